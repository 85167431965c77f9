"""The messenger a store embeds: widget.js, the chat frame and who may frame it,
the socket's origin check, and the identity token the store passes."""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from apps.chat.models import Conversation
from apps.orders.identity import make_identity_token
from apps.orders.models import Customer
from supportbot.asgi import application

from .conftest import connect
from .test_socket_protocol import new_conversation

STORE = "https://shop.example.com"
pytestmark = pytest.mark.django_db


@pytest.fixture
def store_allowed(settings: Any) -> None:
    settings.SUPPORTBOT_EMBED_ORIGINS = [STORE]


def test_widget_js_is_served_as_javascript_any_page_may_load(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert b"/embed/" in response.content


def test_the_frame_may_be_framed_only_by_the_allowed_store_origins(client, store_allowed):
    response = client.get("/embed/")
    assert response.status_code == 200
    assert f"frame-ancestors 'self' {STORE};" in response["Content-Security-Policy"] + ";"
    assert "X-Frame-Options" not in response
    assert b'id="launcher"' in response.content


def test_with_no_embed_origins_only_our_own_pages_may_frame_it(client, settings):
    settings.SUPPORTBOT_EMBED_ORIGINS = []
    response = client.get("/embed/")
    assert "frame-ancestors 'self';" in response["Content-Security-Policy"] + ";"


def test_the_chat_page_and_admin_still_refuse_every_frame(client, store_allowed):
    assert client.get("/")["X-Frame-Options"] == "DENY"
    assert client.get("/admin/login/")["X-Frame-Options"] == "DENY"


def test_the_check_tells_a_store_page_whether_it_may_embed(client, store_allowed):
    allowed = client.get("/embed/check/", HTTP_ORIGIN=STORE).json()
    assert allowed == {"allowed": True, "origin": STORE}
    refused = client.get("/embed/check/", HTTP_ORIGIN="https://other.example").json()
    assert refused["allowed"] is False
    assert "SUPPORTBOT_EMBED_ORIGINS" in refused["message"]
    assert "https://other.example" in refused["message"]
    # a look-alike on another port or scheme is another origin
    assert client.get("/embed/check/", HTTP_ORIGIN=STORE + ":8443").json()["allowed"] is False
    assert (
        client.get("/embed/check/", HTTP_ORIGIN="http://shop.example.com").json()["allowed"]
        is False
    )


@pytest.mark.django_db(transaction=True)
async def test_the_customer_socket_accepts_an_allowed_store_origin(fast_local, store_allowed):
    conversation_id, token = await new_conversation()
    connected, communicator = await connect(
        conversation_id, token, origin=(b"origin", STORE.encode())
    )
    assert connected is True
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_customer_socket_refuses_other_origins_and_ports(fast_local, store_allowed):
    conversation_id, token = await new_conversation()
    for origin in (
        b"https://other.example",
        b"https://shop.example.com:8443",
        b"http://shop.example.com",
    ):
        connected, _ = await connect(conversation_id, token, origin=(b"origin", origin))
        assert connected is False, origin


@pytest.mark.django_db(transaction=True)
async def test_staff_sockets_never_accept_a_store_origin(store_allowed):
    communicator = WebsocketCommunicator(
        application, "/ws/agent/", headers=[(b"origin", STORE.encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected is False


@pytest.fixture
def customer(db: None, settings: Any) -> Customer:
    settings.SUPPORTBOT_IDENTITY_SECRET = "s" * 40
    return Customer.objects.create(
        user_id="cust-1", first_name="Jane", last_name="Doe", email="jane@example.com"
    )


def test_a_signed_token_from_the_store_verifies_the_shopper(client, customer):
    token = make_identity_token(customer.pk)
    response = client.post(
        "/api/conversations/", {"identity": token}, content_type="application/json"
    )
    assert response.status_code == 201
    conversation = Conversation.objects.get(pk=response.json()["conversation_id"])
    assert conversation.customer_id == "cust-1" and conversation.verified_by == "token"


def test_a_forged_token_is_refused_and_a_plain_chat_can_still_start(client, customer, settings):
    settings.SUPPORTBOT_IDENTITY_SECRET = "another-secret-" + "x" * 30
    forged = make_identity_token(customer.pk)
    settings.SUPPORTBOT_IDENTITY_SECRET = "s" * 40
    payload, _, signature = make_identity_token(customer.pk).partition(".")
    tampered = make_identity_token("cust-2").partition(".")[0] + "." + signature
    for token in (forged, tampered, payload):
        response = client.post(
            "/api/conversations/", {"identity": token}, content_type="application/json"
        )
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_identity"
    assert not Conversation.objects.exists()
    # the messenger then starts the chat unverified
    assert (
        client.post("/api/conversations/", {}, content_type="application/json").status_code == 201
    )
    assert Conversation.objects.get().customer_id is None


def test_an_expired_token_is_refused(client, customer, monkeypatch):
    token = make_identity_token(customer.pk, ttl_seconds=60)
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    response = client.post(
        "/api/conversations/", {"identity": token}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_identity"


def test_the_demo_store_embeds_the_widget_in_development(client, settings):
    settings.SUPPORTBOT_DEMO_STORE = True
    for path in ("/demo-store/", "/demo-store/trail/"):
        response = client.get(path)
        assert response.status_code == 200
        assert b'src="/widget.js"' in response.content


def test_the_demo_store_signs_a_shopper_in_with_a_token(client, customer, settings):
    settings.SUPPORTBOT_DEMO_STORE = True
    client.post("/demo-store/sign-in/", {"customer": "cust-1", "page": "trail"})
    response = client.get("/demo-store/trail/")
    assert b"Signed in as Jane Doe" in response.content
    assert b"data-identity=" in response.content


def test_the_demo_store_is_off_in_production(client, settings):
    settings.SUPPORTBOT_DEMO_STORE = False
    assert client.get("/demo-store/").status_code == 404
