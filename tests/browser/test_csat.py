"""CSAT in a real browser: at close the page asks for a 1-5 rating and an optional
comment, once; the rating is stored on the conversation; writing again reopens it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from apps.chat.models import Conversation

COMMENT = "Quick and friendly, thanks."


def test_a_customer_rates_a_closed_chat_once_and_writing_again_reopens_it(
    browser: Any, live_server_url: str, artifacts: Path
):
    context = browser.new_context(viewport={"width": 420, "height": 900})
    page = context.new_page()
    page.goto(live_server_url + "/")
    page.fill("#input", "hello")
    page.keyboard.press("Enter")
    replies = page.locator(".row-assistant:not(.streaming) .bubble")
    expect(replies.first).to_contain_text("Hi there!", timeout=15_000)

    # when the customer ends the chat
    page.click("#end-chat")

    # then the page says so and asks for a rating
    expect(page.locator(".notice.handoff-closed")).to_contain_text("You ended the chat.")
    card = page.locator(".rating-card")
    expect(card).to_have_count(1)
    stars = card.locator(".star")
    expect(stars).to_have_count(5)
    send = card.locator("button[type=submit]")
    expect(send).to_be_disabled()  # nothing chosen yet
    stars.nth(3).click()
    expect(card.locator(".star.on")).to_have_count(4)
    expect(send).to_be_enabled()
    card.locator("textarea").fill(COMMENT)
    page.screenshot(path=str(artifacts / "csat-rating-card.png"), full_page=True)
    send.click()

    # the card turns into a thank-you and the rating is stored on the conversation
    done = page.locator(".rating-card.done")
    expect(done).to_contain_text("Thanks for your feedback (4/5)", timeout=10_000)
    expect(done.locator(".star")).to_have_count(0)
    conversation = Conversation.objects.get()
    assert conversation.status == Conversation.Status.CLOSED
    assert (conversation.csat_score, conversation.csat_comment) == (4, COMMENT)
    assert conversation.csat_at is not None
    page.screenshot(path=str(artifacts / "csat-thanks.png"), full_page=True)

    # after a reload the closed chat comes back already rated: no second question
    page.reload()
    expect(page.locator(".notice.handoff-closed")).to_have_count(1, timeout=10_000)
    expect(page.locator(".rating-card.done")).to_contain_text("Thanks for your feedback (4/5)")
    expect(page.locator(".rating-card:not(.done)")).to_have_count(0)
    expect(page.locator(".rating-card .star")).to_have_count(0)
    page.screenshot(path=str(artifacts / "csat-after-reload.png"), full_page=True)

    # a second rating sent anyway is refused with an error frame; the score stays 4
    refusal = page.evaluate(
        """(url) => new Promise((resolve, reject) => {
          const saved = JSON.parse(localStorage.getItem("supportbot.conversation"));
          const ws = new WebSocket(url.replace("http", "ws") + `/ws/chat/${saved.id}/`
                                   + `?token=${encodeURIComponent(saved.token)}`);
          ws.onopen = () => ws.send(JSON.stringify({type: "rate", score: 1, comment: "again"}));
          ws.onmessage = (event) => {
            const frame = JSON.parse(event.data);
            if (frame.type === "error" || frame.type === "rated") { ws.close(); resolve(frame); }
          };
          ws.onerror = () => reject(new Error("socket failed"));
          setTimeout(() => reject(new Error("no answer to the second rating")), 5000);
        })""",
        live_server_url,
    )
    assert refusal["type"] == "error" and refusal["code"] == "not_allowed", refusal
    conversation.refresh_from_db()
    assert (conversation.csat_score, conversation.csat_comment) == (4, COMMENT)

    # writing again starts a new episode and the assistant answers
    page.fill("#input", "hello")
    page.keyboard.press("Enter")
    expect(page.locator(".notice").filter(has_text="New conversation started")).to_have_count(
        1, timeout=10_000
    )
    expect(replies.nth(1)).to_contain_text("Hi there!", timeout=15_000)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.BOT
    assert conversation.episode == 2
    page.screenshot(path=str(artifacts / "csat-reopened.png"), full_page=True)
    context.close()
