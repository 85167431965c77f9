"""A photo in real browsers: the shopper attaches one in the messenger, a bad file
gets a clear error and nothing else is lost, and the agent sees the photo."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw
from playwright.sync_api import expect

from apps.chat.models import Attachment
from apps.escalations.tests.conftest import make_agent
from tests.browser.people import claim_first_in_queue, log_in
from tests.browser.test_messenger_widget import messenger

__all__ = ["make_agent"]  # a fixture, used by name


def damaged_lamp(path: Path) -> Path:
    image = Image.new("RGB", (1200, 900), (236, 228, 214))
    draw = ImageDraw.Draw(image)
    draw.polygon([(400, 250), (800, 250), (900, 600), (300, 600)], fill=(217, 180, 74))
    draw.line([(520, 260), (600, 420), (560, 590)], fill=(60, 40, 20), width=12)  # the crack
    draw.rectangle([(560, 600), (640, 800)], fill=(90, 90, 90))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return path


def test_a_photo_from_the_messenger_reaches_the_agent_console(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any, tmp_path: Path
):
    make_agent("alex", "Alex")
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    page.goto(live_server_url + "/demo-store/")
    chat = messenger(page)
    chat.locator("#launcher").click()

    # a file that is not a photo: a clear error, and the typed text is kept
    fake = tmp_path / "invoice.pdf"
    fake.write_bytes(b"%PDF-1.4 not a photo")
    chat.fill("#input", "My lamp arrived broken")
    chat.locator("#photo").set_input_files(str(fake))
    expect(chat.locator(".notice-error")).to_contain_text("Please send a photo")
    expect(chat.locator("#photo-preview")).to_be_hidden()
    expect(chat.locator("#input")).to_have_value("My lamp arrived broken")

    # the photo: a preview, then sent with the text
    chat.locator("#photo").set_input_files(str(damaged_lamp(tmp_path / "lamp.jpg")))
    expect(chat.locator("#photo-preview")).to_contain_text("lamp.jpg")
    chat.locator("#send").click()
    sent = chat.locator(".row-customer").last
    expect(sent.locator("img.photo")).to_be_visible()
    expect(sent).to_contain_text("My lamp arrived broken")
    expect(sent.locator(".msg-time")).not_to_have_text("Sending…", timeout=10_000)
    reply = chat.locator(".row-assistant:not(.streaming) .bubble").last
    expect(reply).to_contain_text("Thanks for the photo", timeout=15_000)
    expect(reply).to_contain_text("person from our support team")
    page.screenshot(path=str(artifacts / "widget-photo.png"))
    assert Attachment.objects.get().message is not None

    # after a reload it comes back from the server
    page.reload()
    chat = messenger(page)
    stored = chat.locator(".row-customer img.photo").first
    expect(stored).to_have_attribute("src", Attachment.objects.get().signed_url())
    assert stored.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1200

    # yes: a person; the agent sees the photo in the console
    chat.fill("#input", "yes")
    chat.press("#input", "Enter")
    expect(chat.locator(".notice.handoff-queued")).to_be_visible(timeout=15_000)
    agent = log_in(browser, live_server_url, "alex", "/admin/console/")
    claim_first_in_queue(agent)
    photo = agent.locator("#timeline img.photo")
    expect(photo).to_be_visible(timeout=10_000)
    assert photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1200
    agent.screenshot(path=str(artifacts / "console-photo.png"), full_page=True)
    agent.context.close()
    context.close()
