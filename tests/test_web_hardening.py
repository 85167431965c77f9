"""Web hardening: the Content-Security-Policy, unknown socket paths, admin login
throttling, and Markdown links that only look local."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.http import HttpResponse
from django.test import Client, RequestFactory

from supportbot.asgi import application
from supportbot.csp import ContentSecurityPolicyMiddleware, csp, parse

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/admin/login/", "/help/"])
def test_every_page_sends_the_site_content_security_policy(client, path):
    response = client.get(path)
    policy = parse(response["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert "ws://testserver" in policy["connect-src"]


def test_a_view_extends_one_directive_and_keeps_the_rest():
    @csp(frame_ancestors=["'self'", "https://shop.example.com"])
    def framed(request):
        return HttpResponse("ok")

    middleware = ContentSecurityPolicyMiddleware(framed)
    policy = parse(middleware(RequestFactory().get("/x/"))["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'self'", "https://shop.example.com"]
    assert policy["script-src"] == ["'self'"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/chat/", "/favicon.ico", "/ws/agent/x/y/"])
async def test_an_unknown_socket_path_is_refused_cleanly_not_a_server_error(path):
    communicator = WebsocketCommunicator(
        application, path, headers=[(b"origin", b"http://localhost:8000")]
    )
    connected, code = await communicator.connect(timeout=5)
    assert connected is False
    assert code == 4404


@pytest.mark.django_db
def test_admin_login_is_throttled_per_username_after_repeated_failures(settings):
    settings.SUPPORTBOT_LOGIN_FAILURES_PER_USER = 5
    get_user_model().objects.create_user("mia", password="right-pw-123", is_staff=True)
    client = Client()
    for _ in range(5):
        response = client.post("/admin/login/", {"username": "mia", "password": "wrong"})
        assert response.status_code == 200
    # then even the right password waits
    blocked = client.post("/admin/login/", {"username": "mia", "password": "right-pw-123"})
    assert blocked.status_code == 429
    assert "Too many failed sign-in attempts" in blocked.content.decode()
    # and another account from elsewhere is not locked out by it
    other = Client(REMOTE_ADDR="10.0.0.9")
    get_user_model().objects.create_user("sam", password="sam-pw-123", is_staff=True)
    assert (
        other.post("/admin/login/", {"username": "sam", "password": "sam-pw-123"}).status_code
        == 302
    )


@pytest.mark.django_db
def test_admin_login_is_throttled_per_client_across_usernames(settings):
    settings.SUPPORTBOT_LOGIN_FAILURES_PER_CLIENT = 3
    client = Client()
    for name in ("a", "b", "c"):
        assert client.post("/admin/login/", {"username": name, "password": "x"}).status_code == 200
    assert client.post("/admin/login/", {"username": "d", "password": "x"}).status_code == 429


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    return node


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("/help/returns/", "/help/returns/"),
        ("/\\evil.example/path", None),
        ("//evil.example/path", None),
        ("/\\/evil.example", None),
        ("/\t/evil.example", None),
        ("https://shop.example.com/x", "https://shop.example.com/x"),
        ("javascript:alert(1)", None),
    ],
)
def test_a_markdown_link_is_local_only_if_it_stays_on_this_site(url, safe):
    script = (
        "import { safeHref } from './static/chat/markdown.js';"
        f"console.log(JSON.stringify(safeHref({json.dumps(url)})));"
    )
    result = subprocess.run(
        [_node(), "--input-type=module", "-e", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == safe
