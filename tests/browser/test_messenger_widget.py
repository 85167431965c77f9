"""The embeddable messenger in a real browser: widget.js on store pages, the chat in
an iframe of our origin, history across the host's pages, who may frame it, and the
store's signed identity token."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Frame, Page, expect

from apps.chat.models import Message
from apps.orders.identity import make_identity_token
from apps.orders.models import Customer
from tests.browser.people import record_partials
from tests.servers import daphne, free_port

SECRET = "store-shared-secret-" + "x" * 30
FRAME = "#supportbot-messenger"


@pytest.fixture
def store_site() -> Iterator[Callable[..., str]]:
    """A store's own site on another origin: serves the given pages, returns its origin."""
    servers: list[ThreadingHTTPServer] = []

    def serve(pages: dict[str, str], port: int | None = None) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def store_page(support: str, title: str, *, identity: str = "", links: str = "") -> str:
    data = f' data-identity="{identity}"' if identity else ""
    return (
        f"<!doctype html><html><head><title>{title}</title>"
        "<style>* { font-family: serif !important; } button { background: red; }</style>"
        f"</head><body><h1>{title}</h1>{links}"
        f'<script src="{support}/widget.js"{data} async></script></body></html>'
    )


def messenger(page: Page) -> Frame:
    expect(page.locator(FRAME)).to_be_attached(timeout=10_000)
    frame = page.frame_locator(FRAME)
    expect(frame.locator("#launcher")).to_be_visible(timeout=10_000)
    # enabled once the frame's script answers clicks (a click before would be lost)
    expect(frame.locator("#launcher")).to_be_enabled(timeout=10_000)
    handle = page.locator(FRAME).element_handle()
    assert handle is not None
    content = handle.content_frame()
    assert content is not None
    return content


def frame_box(page: Page) -> Any:
    box = page.locator(FRAME).bounding_box()
    assert box is not None
    return box


def test_the_widget_on_the_demo_store_streams_a_reply_and_keeps_it_across_pages(
    browser: Any, live_server_url: str, artifacts: Path
):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(live_server_url + "/demo-store/")
    chat = messenger(page)

    # closed: only the launcher, in a small frame in the corner
    expect(chat.locator("#panel")).to_be_hidden()
    assert frame_box(page)["width"] < 120
    page.wait_for_timeout(300)  # the frame's first paint
    page.screenshot(path=str(artifacts / "widget-closed.png"))

    # open: the panel; a message and its streamed reply
    chat.locator("#launcher").click()
    expect(chat.locator("#panel")).to_be_visible()
    expect(chat.locator("#input")).to_be_focused()
    expect(page.locator(FRAME)).to_have_attribute("data-open", "true")
    assert frame_box(page)["width"] > 400
    record_partials(chat)
    chat.fill("#input", "hello")
    chat.press("#input", "Enter")
    reply = chat.locator(".row-assistant:not(.streaming) .bubble").first
    expect(reply).to_contain_text("Hi there!", timeout=15_000)
    assert len(set(chat.evaluate("window.partials"))) >= 3
    # the host page's CSS did not reach the frame
    send_color = chat.locator("#send").evaluate("b => getComputedStyle(b).backgroundColor")
    assert send_color != "rgb(122, 62, 18)"
    page.screenshot(path=str(artifacts / "widget-open.png"))

    # another page of the store: the chat opens where the shopper left it, history kept
    page.click("text=Trail gear")
    expect(page).to_have_url(re.compile("/demo-store/trail/$"))
    chat = messenger(page)
    expect(chat.locator("#panel")).to_be_visible()
    expect(chat.locator(".row-customer .bubble")).to_have_text(["hello"], timeout=10_000)
    expect(chat.locator(".row-assistant .bubble").first).to_contain_text("Hi there!")

    # a reply that arrives while the panel is closed shows on the launcher's badge
    chat.fill("#input", "thanks")
    chat.press("#input", "Enter")
    chat.press("#input", "Escape")
    expect(chat.locator("#panel")).to_be_hidden()
    expect(chat.locator("#launcher")).to_be_focused()
    expect(chat.locator("#unread")).to_have_text("1", timeout=15_000)
    expect(chat.locator("#launcher")).to_contain_text("1 unread reply")
    page.screenshot(path=str(artifacts / "widget-unread.png"))
    page.reload()  # still unread after a reload
    chat = messenger(page)
    expect(chat.locator("#unread")).to_have_text("1", timeout=10_000)
    chat.locator("#launcher").click()
    expect(chat.locator("#unread")).to_be_hidden()
    expect(chat.locator(".row-assistant .bubble").last).to_contain_text("welcome")
    assert Message.objects.filter(role="assistant").count() == 2
    context.close()


def test_the_launcher_waits_for_its_script_so_no_click_is_lost(browser: Any, live_server_url: str):
    # given the frame's script is slow to arrive (a loaded machine, a slow network)
    context = browser.new_context()
    held: list[Any] = []

    def hold(route: Any) -> None:
        held.append(route)

    context.route(re.compile(r"/static/chat/embed\.js$"), hold)
    page = context.new_page()
    page.goto(live_server_url + "/demo-store/")
    launcher = page.frame_locator(FRAME).locator("#launcher")
    expect(launcher).to_be_visible(timeout=10_000)
    # then the launcher shows but takes no click it could not answer
    expect(launcher).to_be_disabled()
    assert len(held) == 1
    # when the script arrives, a click opens the chat
    held[0].continue_()
    chat = messenger(page)
    chat.locator("#launcher").click()
    expect(chat.locator("#panel")).to_be_visible()
    context.close()


def test_on_a_phone_the_open_widget_takes_the_whole_screen(
    browser: Any, live_server_url: str, artifacts: Path
):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(live_server_url + "/demo-store/trail/")
    chat = messenger(page)
    chat.locator("#launcher").click()
    expect(chat.locator("#minimise")).to_be_visible()
    box = frame_box(page)
    assert box["width"] == 390 and box["height"] == 844
    chat.fill("#input", "hello")
    chat.press("#input", "Enter")
    expect(chat.locator(".row-assistant:not(.streaming) .bubble").first).to_contain_text(
        "Hi there!", timeout=15_000
    )
    page.screenshot(path=str(artifacts / "widget-phone.png"))
    chat.locator("#minimise").click()
    expect(chat.locator("#launcher")).to_be_visible()
    assert frame_box(page)["width"] < 120
    context.close()


def test_a_signed_token_from_an_allowed_store_verifies_the_shopper(
    browser: Any,
    store_site: Callable[..., str],
    tmp_path: Path,
    settings: Any,
    transactional_db: None,
):
    Customer.objects.create(
        user_id="cust-1", first_name="Jane", last_name="Doe", email="jane@example.com"
    )
    store_port = free_port()
    store = f"http://127.0.0.1:{store_port}"
    with daphne(
        tmp_path, SUPPORTBOT_EMBED_ORIGINS=store, SUPPORTBOT_IDENTITY_SECRET=SECRET
    ) as support:
        settings.SUPPORTBOT_IDENTITY_SECRET = SECRET
        good = make_identity_token("cust-1")
        settings.SUPPORTBOT_IDENTITY_SECRET = "not-the-store-secret-" + "y" * 30
        forged = make_identity_token("cust-1")
        pages = {
            "/account": store_page(support, "My account", identity=good),
            "/forged": store_page(support, "Forged", identity=forged),
        }
        store_site(pages, store_port)  # the origin had to be known before Daphne started
        context = browser.new_context()
        page = context.new_page()
        page.goto(store + "/account")
        chat = messenger(page)
        chat.locator("#launcher").click()
        expect(chat.locator("#signed-in")).to_have_text("Signed in as Jane", timeout=10_000)

        context.close()

        # a forged token: refused, and the shopper chats unverified
        context = browser.new_context()
        page = context.new_page()
        page.goto(store + "/forged")
        chat = messenger(page)
        chat.locator("#launcher").click()
        expect(chat.locator(".notice-identity")).to_contain_text("chatting as a guest")
        expect(chat.locator("#signed-in")).to_be_hidden()
        chat.fill("#input", "hello")
        chat.press("#input", "Enter")
        expect(chat.locator(".row-assistant:not(.streaming) .bubble").first).to_contain_text(
            "Hi there!", timeout=15_000
        )
        context.close()


def test_a_store_not_allowed_cannot_frame_the_chat(
    browser: Any,
    store_site: Callable[..., str],
    tmp_path: Path,
    transactional_db: None,
):
    with daphne(tmp_path, SUPPORTBOT_EMBED_ORIGINS="https://shop.example.com") as support:
        other = store_site(
            {
                "/widget": store_page(support, "Not allowed"),
                "/direct": f'<!doctype html><iframe id="f" src="{support}/embed/"></iframe>',
            }
        )
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        # widget.js says why in the console and adds nothing
        page.goto(other + "/widget")
        expect(page.locator("h1")).to_have_text("Not allowed")
        page.wait_for_function("() => document.readyState === 'complete'")
        page.wait_for_timeout(500)
        assert page.locator(FRAME).count() == 0
        assert any("may not embed the support chat" in e and other in e for e in errors), errors

        # framing the chat directly: the browser refuses it (frame-ancestors)
        page.goto(other + "/direct")
        page.wait_for_timeout(500)
        child = page.locator("#f").element_handle()
        assert child is not None
        content = child.content_frame()
        assert content is not None
        assert content.locator("#launcher").count() == 0
        context.close()
