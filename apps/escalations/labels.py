"""What the agent pages (the console and the inbox) call each stored event and
escalation event, in words (one place, used by the pages and, through their state, by
the live updates)."""

from __future__ import annotations

from typing import Any

# One word for each hand-off state and each answer to a confirmation, on both agent
# pages (the console and the inbox) and in their scripts.
HANDOFF = {
    "queued": "Waiting for an agent",
    "agent_joined": "Agent joined",
    "returned_to_bot": "Handed back to the assistant",
    "closed": "Conversation closed",
    "requeued": "Back in the queue",
}
CONFIRMATION = {
    "pending": "Confirmation asked",
    "executing": "Change being made",
    "done": "Change confirmed and made",
    "declined": "Customer declined the change",
    "expired": "Confirmation expired",
    "failed": "Change failed",
}
ROLE = {"customer": "Customer", "assistant": "Assistant", "system": "Notice", "agent": "Agent"}
ESCALATION_EVENT = {
    "created": "Escalated",
    "claimed": "Claimed",
    "taken_over": "Taken over from the assistant",
    "returned": "Handed back to the assistant",
    "closed": "Closed",
    "requeued": "Back in the queue",
    "notified": "Agents notified",
    "renotified": "Agents notified again",
    "summarised": "Hand-over note written",
    "email_offered": "Offered to continue by email",
    "email_requested": "Customer chose email",
    "transferred": "Transferred",
    "agent_unavailable": "Agent unavailable",
}


def _words(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or "Event"


def event_label(kind: str, role: str, metadata: dict[str, Any] | None) -> str:
    """The label of a stored chat event: "Agent joined", "Change failed", "Customer"."""
    meta = metadata or {}
    if kind == "handoff":
        state = str(meta.get("state") or "")
        return HANDOFF.get(state, _words(state))
    if kind == "confirm_request":
        return "Confirmation asked"
    if kind == "confirm_result":
        status = str(meta.get("status") or "")
        return CONFIRMATION.get(status, _words(status))
    if role == "agent":
        return f"{meta.get('agent_name') or 'Agent'} (agent)"
    return ROLE.get(role, _words(role))


def escalation_event_label(kind: str) -> str:
    return ESCALATION_EVENT.get(kind, _words(kind))


def labels_for_page() -> dict[str, dict[str, str]]:
    """The tables the console's and the inbox's scripts use for events that arrive live."""
    return {"handoff": HANDOFF, "confirmation": CONFIRMATION, "role": ROLE}
