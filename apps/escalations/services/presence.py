"""Agents' presence and capacity: who is online and may take a conversation, and how many."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Greatest
from django.utils import timezone

from ..models import (
    AgentPresence,
    Escalation,
)
from .console import publish_console
from .queries import EscalationError, agent_name

ONLINE_WINDOW = timedelta(seconds=90)


def holds_escalation_permission(user: str = "") -> Q:
    """Holds the permission to take escalations, through a group or directly (a
    superuser has it without either). `user` is the path to the user, "user__"
    from a presence row."""

    def granted(via: str) -> Q:
        return Q(
            **{
                f"{user}{via}__codename": "change_escalation",
                f"{user}{via}__content_type__app_label": "escalations",
            }
        )

    return granted("groups__permissions") | granted("user_permissions")


def online_agents() -> QuerySet[AgentPresence]:
    """Agents who can answer now: the console open, seen recently, not away, and
    allowed to take conversations (a manager watching the inbox is not an agent)."""
    may_take = holds_escalation_permission("user__") | Q(user__is_superuser=True)
    available = AgentPresence.objects.filter(
        connections__gt=0,
        last_seen__gte=timezone.now() - ONLINE_WINDOW,
        status=AgentPresence.Status.ONLINE,
        user__is_active=True,
    )
    return available.filter(pk__in=available.filter(may_take).values("pk"))


def is_available(user: Any) -> bool:
    return online_agents().filter(user=user).exists()


def agent_capacity(user: Any) -> int:
    presence = AgentPresence.objects.filter(user=user).first()
    if presence is not None and presence.max_conversations:
        return presence.max_conversations
    return int(settings.SUPPORTBOT_AGENT_MAX_CONVERSATIONS)


def agent_load(user: Any) -> int:
    return Escalation.objects.filter(claimed_by=user, status=Escalation.Status.CLAIMED).count()


def lock_agent(agent: Any) -> AgentPresence:
    AgentPresence.objects.get_or_create(user=agent)
    return AgentPresence.objects.select_for_update().get(user=agent)


def check_capacity(agent: Any) -> None:
    lock_agent(agent)  # one claim at a time per agent, so the count below holds
    if agent_load(agent) >= agent_capacity(agent):
        raise EscalationError(
            "at_capacity",
            f"You already have {agent_capacity(agent)} conversations open. "
            "Close or hand one back first.",
        )


def may_take_escalations(user: Any) -> bool:
    return bool(is_agent(user) and user.has_perm("escalations.change_escalation"))


def do_agent_connected(user_id: int) -> None:
    AgentPresence.objects.get_or_create(user_id=user_id)
    AgentPresence.objects.filter(user_id=user_id).update(
        connections=F("connections") + 1, last_seen=timezone.now()
    )


def do_agent_seen(user_id: int) -> None:
    AgentPresence.objects.filter(user_id=user_id).update(last_seen=timezone.now())


def do_agent_disconnected(user_id: int) -> None:
    AgentPresence.objects.filter(user_id=user_id).update(
        connections=Greatest(F("connections") - 1, 0), last_seen=timezone.now()
    )


def do_set_presence(agent: Any, status: str) -> AgentPresence:
    """The agent says they are online or away. Away agents are not offered
    transfers, are not counted as available (so a waiting customer is offered
    email), and are not emailed by the SLA sweep while others are online."""
    if status not in AgentPresence.Status.values:
        raise EscalationError("invalid_status", "Presence is online or away.")
    with transaction.atomic():
        presence = lock_agent(agent)
        if presence.status != status:
            now = timezone.now()
            AgentPresence.objects.filter(pk=presence.pk).update(
                status=status, status_changed_at=now
            )
            presence.status = status
            presence.status_changed_at = now
            publish_console(
                "presence", None, agent=agent_name(agent), agent_id=agent.pk, status=status
            )
    return presence


def is_agent(user: Any) -> bool:
    """May use the agent console (and its socket)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm("escalations.view_escalation")
    )
