from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from apps.chat import services as chat_services
from apps.chat.roles import AGENTS, ensure_groups
from apps.chat.tests.conftest import ChatSocket, FrameSocket, chat, fast_local
from apps.escalations import services
from apps.escalations.models import Escalation
from supportbot.asgi import application

ORIGIN = (b"origin", b"http://localhost:8000")


@pytest.fixture
def make_agent(db: None) -> Callable[..., Any]:
    """A staff user in the "Support agents" group (or, with group=None, in none)."""
    groups = ensure_groups()

    def make(username: str, first_name: str = "", *, group: str | None = AGENTS) -> Any:
        user = get_user_model().objects.create_user(
            username=username,
            password="pw-" + username,
            first_name=first_name or username.title(),
            email=f"{username}@example.com",
            is_staff=True,
        )
        if group is not None:
            user.groups.add(groups[group])
        return get_user_model().objects.get(pk=user.pk)  # fresh permission cache

    return make


def queued(text: str = "help me") -> Escalation:
    """A new conversation whose customer wrote `text` and asked for a person."""
    conversation, _ = chat_services.do_create_conversation()
    chat_services.do_append_event(conversation.pk, role="customer", text=text)
    escalation, created = services.do_escalate(
        conversation.pk, trigger="customer_request", reason=text
    )
    assert created and escalation is not None
    escalation.refresh_from_db()
    return escalation


def logged_in(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


class StaffSocket(FrameSocket):
    """An agent console socket."""


def session_for(user: Any) -> str:
    """A stored login session for `user`: its key is the `sessionid` cookie."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return str(session.session_key)


async def staff_socket(path: str, user: Any | None) -> tuple[bool, StaffSocket]:
    """Connect to a staff socket as `user` (None: anonymous), as the auth middleware would."""
    communicator = WebsocketCommunicator(application, path, headers=[ORIGIN])
    if user is not None:
        # The session middleware would find this user from the cookie; tests log in directly.
        key = await database_sync_to_async(session_for)(user)
        communicator = WebsocketCommunicator(
            application, path, headers=[ORIGIN, (b"cookie", f"sessionid={key}".encode())]
        )
    connected, _ = await communicator.connect(timeout=5)
    return connected, StaffSocket(communicator)


__all__ = [
    "ChatSocket",
    "StaffSocket",
    "chat",
    "fast_local",
    "logged_in",
    "queued",
    "staff_socket",
]


@pytest.fixture(autouse=True)
def _always_open(settings: Any) -> None:
    """Support hours are a test's own choice; by default people answer at any time."""
    settings.SUPPORTBOT_SUPPORT_HOURS = ""
