"""The agents' inbox in real browsers: two agents and a customer.

The list updates live; agent A claims and replies, transfers to agent B; B replies
and hands back, and the assistant answers the customer's pending question; the
keyboard drives it; axe-core finds no serious or critical accessibility problem;
screenshots at desktop and tablet widths land in test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from django.core.management import call_command
from playwright.sync_api import expect

from apps.chat import services as chat_services
from apps.escalations import services
from apps.escalations.models import CopilotSuggestion, Escalation
from apps.escalations.tests.conftest import make_agent
from tests.browser import people
from tests.fake_openai import FakeOpenAI, json_output, text

__all__ = ["make_agent"]  # a fixture, used by name

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
DESKTOP = {"width": 1440, "height": 900}
TABLET = {"width": 820, "height": 1180}


# Watches what the page asks the browser for: desktop notifications (shown only
# while the tab is in the background, so the tab says it is) and alert sounds.
WATCH_ALERTS = """
Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
window.__notes = [];
window.__beeps = 0;
const RealNotification = window.Notification;
function WatchedNotification(title, options) {
  window.__notes.push(title);
  return new RealNotification(title, options);
}
Object.defineProperty(WatchedNotification, "permission", {
  get: () => RealNotification.permission,
});
WatchedNotification.requestPermission = () => RealNotification.requestPermission();
window.Notification = WatchedNotification;
const realOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__beeps += 1;
  return realOscillator.call(this);
};
"""


def log_in(
    browser: Any,
    url: str,
    username: str,
    viewport: dict[str, int] = DESKTOP,
    *,
    watch_alerts: bool = False,
) -> Any:
    # bypass_csp: the axe check injects its script into the page, which the site's
    # Content-Security-Policy (script-src 'self') rightly refuses
    page = people.log_in(
        browser,
        url,
        username,
        "/admin/console/inbox/",
        viewport=viewport,
        init_script=WATCH_ALERTS if watch_alerts else "",
        permissions=["notifications"] if watch_alerts else [],
        bypass_csp=True,
    )
    expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)
    return page


def ready(page: Any) -> None:
    """The page's script runs and its sockets are live (keys pressed before would be lost)."""
    page.wait_for_load_state("load")
    expect(page.locator("#connection")).to_have_text("Live", timeout=10_000)


def open_by_key(page: Any, key: str, said: str) -> None:
    """j or k opens the next or previous conversation, the one where the customer `said`."""
    page.keyboard.press(key)
    expect(page.locator("#timeline")).to_contain_text(said)
    ready(page)


def assert_focus_is_visible(page: Any, stops: int) -> None:
    """Tab through the first controls: each shows a solid outline at least 2 px wide."""
    page.locator("body").focus()
    for _ in range(stops):
        page.keyboard.press("Tab")
        outline = page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.id || document.activeElement.textContent.trim(),"
            " s.outlineStyle, parseFloat(s.outlineWidth)]; }"
        )
        assert outline[1] == "solid" and outline[2] >= 2, f"no visible focus on {outline}"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Serious and critical axe-core findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async () => { const r = await axe.run(document, {resultTypes: ['violations']});"
        " return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))})); }"
    )
    return [v for v in result if v["impact"] in {"serious", "critical"}]


def assert_accessible(page: Any, where: str) -> None:
    found = axe_violations(page)
    assert not found, f"{where}: " + json.dumps(found, indent=1)


def test_two_agents_share_a_customer_live_from_claim_to_transfer_to_hand_back(
    browser: Any, live_server_url: str, artifacts: Path, make_agent: Any
):
    call_command("load_help_center", verbosity=0)
    make_agent("alex", "Alex")
    make_agent("sam", "Sam")
    alex = log_in(browser, live_server_url, "alex")
    sam = log_in(browser, live_server_url, "sam", watch_alerts=True)
    # Sam turns on desktop alerts and the sound
    sam.click("#notify-toggle")
    expect(sam.locator("#notify-toggle")).to_have_text("Desktop alerts: on")
    sam.check("#sound-toggle")
    beeps_before = sam.evaluate("window.__beeps")
    expect(alex.locator("#conversation-list")).to_contain_text("No one is waiting")
    assert_accessible(alex, "empty inbox")
    assert_focus_is_visible(alex, stops=12)

    # a customer asks for a person: both lists update without a reload
    customer = people.asks_for_a_person(browser, live_server_url)
    for page in (alex, sam):
        expect(page.locator("#conversation-list .item")).to_have_count(1, timeout=10_000)
        expect(page.locator('[data-count="queued"]')).to_have_text("1")
    expect(alex).to_have_title("(1) Inbox · supportbot")
    # Sam, in another tab, gets one desktop notification and a sound
    expect(sam.locator("#announcer")).to_contain_text("New in the queue")
    assert sam.evaluate("window.__notes") == ["Unverified customer is waiting (normal)"]
    assert sam.evaluate("window.__beeps") == beeps_before + 1

    # Alex opens it with the keyboard (j), claims it (c) and replies (r, Enter)
    alex.keyboard.press("j")
    expect(alex.locator("#timeline")).to_contain_text("I want to talk to a real person")
    expect(alex.locator("#timeline")).to_contain_text("Waiting for an agent")
    ready(alex)
    alex.keyboard.press("c")
    expect(alex.locator("#reply-text")).to_be_visible(timeout=10_000)
    ready(alex)
    expect(customer.locator(".notice.handoff-agent_joined")).to_contain_text("Alex", timeout=10_000)
    expect(alex.locator('[data-count="mine"]')).to_have_text("1", timeout=10_000)
    expect(sam.locator('[data-count="queued"]')).to_have_text("0", timeout=10_000)
    expect(alex.locator("#connection")).to_have_text("Live", timeout=10_000)
    alex.keyboard.press("r")
    expect(alex.locator("#reply-text")).to_be_focused()
    alex.keyboard.type("Hi, I'm Alex. Let me look at this.")
    alex.keyboard.press("Enter")
    expect(customer.locator(".row-agent")).to_contain_text("I'm Alex", timeout=10_000)
    expect(alex.locator("#timeline .role-agent")).to_contain_text("I'm Alex")
    # the customer's messenger reports it read
    expect(alex.locator("#timeline .role-agent .receipt")).to_have_text("✓ Seen", timeout=10_000)

    # the customer types (Alex sees it) and writes; the text stays text
    customer.locator("#input").press_sequentially("My lamp arrived <b>broken</b>")
    expect(alex.locator("#customer-typing")).to_be_visible(timeout=10_000)
    customer.keyboard.press("Enter")
    expect(alex.locator("#timeline")).to_contain_text("My lamp arrived <b>broken</b>")
    assert alex.locator("#timeline b").count() == 0
    expect(alex.locator("#announcer")).to_have_text(
        "Customer: My lamp arrived <b>broken</b>", timeout=5_000
    )
    # Sam, who is not reading it, sees it counted as unread
    sam.keyboard.press("3")
    expect(sam.locator("#conversation-list .unread")).to_have_text("2", timeout=10_000)

    # the help overlay opens with ? and closes with Escape
    alex.locator("#timeline").focus()
    alex.keyboard.press("?")
    expect(alex.locator("#help")).to_be_visible()
    expect(alex.locator("#help")).to_contain_text("Hand back to the assistant")
    assert_accessible(alex, "help overlay")
    alex.keyboard.press("Escape")
    expect(alex.locator("#help")).to_be_hidden()

    # screenshots of a working conversation, desktop and tablet
    alex.screenshot(path=str(artifacts / "inbox-desktop.png"))
    assert_accessible(alex, "inbox with a conversation")
    tablet = log_in(browser, live_server_url, "alex", TABLET)
    tablet.goto(alex.url)
    expect(tablet.locator("#reply-text")).to_be_visible()
    tablet.screenshot(path=str(artifacts / "inbox-tablet.png"))
    assert_accessible(tablet, "inbox at tablet width")
    tablet.context.close()

    # Alex transfers to Sam; the customer is told; Sam finds it under "Mine"
    alex.select_option("#transfer-to", label="Sam (online, 0 of 3)")
    alex.click("#transfer")
    expect(customer.locator(".notice.handoff-agent_joined").last).to_contain_text(
        "Alex passed your chat to Sam", timeout=10_000
    )
    expect(alex.locator("#reply-text")).to_have_count(0, timeout=10_000)
    sam.keyboard.press("2")
    expect(sam.locator('[data-count="mine"]')).to_have_text("1", timeout=10_000)
    sam.locator("#conversation-list a.item-link").first.click()
    expect(sam.locator("#timeline")).to_contain_text("Alex passed your chat to Sam")
    ready(sam)
    sam.keyboard.press("r")
    expect(sam.locator("#reply-text")).to_be_focused()
    sam.keyboard.type("Sam here, I have your conversation.")
    sam.keyboard.press("Enter")
    expect(customer.locator(".row-agent").last).to_contain_text("Sam here", timeout=10_000)

    # a question is pending when Sam hands back (b): the assistant answers it
    customer.fill("#input", "How long do I have to return an item?")
    customer.keyboard.press("Enter")
    expect(sam.locator("#timeline")).to_contain_text("return an item?", timeout=10_000)
    sam.locator("#timeline").focus()
    sam.keyboard.press("b")
    expect(customer.locator(".notice.handoff-returned_to_bot")).to_be_visible(timeout=10_000)
    expect(sam.locator("#reply-text")).to_have_count(0, timeout=10_000)
    answer = customer.locator(".row-assistant:not(.streaming) .bubble").last
    expect(answer).to_contain_text("days", timeout=20_000)
    expect(answer).not_to_contain_text("anything else")
    expect(sam.locator("#timeline .role-assistant").last).to_contain_text("days", timeout=10_000)
    customer.screenshot(path=str(artifacts / "inbox-customer-after-hand-back.png"), full_page=True)

    escalation = Escalation.objects.get()
    assert escalation.status == "returned"
    kinds = list(escalation.events.values_list("kind", flat=True))
    assert [k for k in kinds if k in {"claimed", "transferred", "returned"}] == [
        "claimed",
        "transferred",
        "returned",
    ]
    for page in (alex, sam):
        page.context.close()
    customer.context.close()


def test_the_inbox_says_live_only_once_it_has_the_queue(
    browser: Any, live_server_url: str, make_agent: Any
):
    # "Live" is what the tests (and agents) wait for before acting: an escalation the
    # first snapshot already holds is never announced as new, so that snapshot must be in.
    make_agent("alex", "Alex")
    page = log_in(browser, live_server_url, "alex")
    held: list[Any] = []
    routed: list[Any] = []

    def hold_what_the_server_says(ws: Any) -> None:
        routed.append(ws)
        server = ws.connect_to_server()
        server.on_message(lambda message: held.append(message))

    page.route_web_socket(re.compile(r"/ws/agent/$"), hold_what_the_server_says)
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connecting…")
    deadline = time.monotonic() + 10
    while not held:  # until the snapshot has come (held back from the page)
        assert time.monotonic() < deadline, "the queue socket sent no snapshot"
        page.wait_for_timeout(50)
    expect(page.locator("#connection")).to_have_text("Connecting…")
    for message in held:
        routed[0].send(message)
    expect(page.locator("#connection")).to_have_text("Live")
    page.context.close()


def test_keys_move_through_the_list_write_a_note_and_close(
    browser: Any, live_server_url: str, make_agent: Any
):
    # given two customers with Alex
    alex_user = make_agent("alex", "Alex")
    held = []
    for said in ("first customer", "second customer"):
        conversation, _ = chat_services.do_create_conversation()
        chat_services.do_append_event(conversation.pk, role="customer", text=said)
        escalation, _ = services.do_escalate(
            conversation.pk, trigger="customer_request", reason=said
        )
        assert escalation is not None
        services.check_claim(escalation.pk, alex_user)
        held.append(conversation.pk)
    # the second one is urgent and long
    Escalation.objects.filter(conversation_id=held[1]).update(priority=4)
    for number in range(30):
        chat_services.do_append_event(held[1], role="customer", text=f"line {number}")
    alex = log_in(browser, live_server_url, "alex")
    alex.keyboard.press("2")
    expect(alex.locator("#conversation-list .item")).to_have_count(2)

    # filters: by priority, and by how long they have waited
    alex.select_option("#filter-priority", "4")
    expect(alex.locator("#conversation-list .item")).to_have_count(1)
    expect(alex.locator("#conversation-list .item")).to_contain_text("second customer")
    alex.select_option("#filter-age", "5")
    expect(alex.locator("#conversation-list")).to_contain_text("Nothing assigned to you")
    alex.select_option("#filter-age", "0")
    alex.select_option("#filter-priority", "0")
    expect(alex.locator("#conversation-list .item")).to_have_count(2)
    alex.evaluate("document.activeElement.blur()")

    # k from nowhere opens the last (the urgent one sorts first, so: the first customer)
    open_by_key(alex, "k", "first customer")
    open_by_key(alex, "k", "second customer")
    # a long conversation opens at its newest message
    expect(alex.locator("#timeline .event").last).to_be_in_viewport()
    at_bottom = alex.evaluate(
        "() => { const t = document.getElementById('timeline');"
        " return t.scrollHeight > t.clientHeight"
        " && t.scrollHeight - t.scrollTop - t.clientHeight < 2; }"
    )
    assert at_bottom
    open_by_key(alex, "j", "first customer")
    open_by_key(alex, "k", "second customer")

    # n writes a private note, / reaches the canned replies, t the transfer list
    alex.keyboard.press("n")
    expect(alex.locator("#note-text")).to_be_focused()
    alex.keyboard.type("Prefers email")
    alex.click("#note-form button[type=submit]")
    expect(alex.locator("#notes-list")).to_contain_text("Prefers email", timeout=10_000)
    alex.locator("#timeline").focus()
    alex.keyboard.press("/")
    expect(alex.locator("#canned")).to_be_focused()
    alex.keyboard.press("Escape")
    alex.keyboard.press("t")
    expect(alex.locator("#transfer-to")).to_be_focused()
    alex.keyboard.press("Escape")

    # e closes it; the list forgets it
    alex.keyboard.press("e")
    expect(alex.locator("#convo-status")).to_have_text("Closed", timeout=10_000)
    expect(alex.locator("#conversation-list .item")).to_have_count(1, timeout=10_000)
    assert Escalation.objects.get(conversation_id=held[1]).status == "closed"
    alex.context.close()


# --- The copilot with a scripted model ----------------------------------------------------

SUGGESTION = (
    "I'm sorry the lamp arrived broken. I can start a return for order #W2611340 "
    "so we can send a replacement."
)


def test_a_copilot_suggestion_streams_into_the_composer_and_is_edited_then_sent(
    browser: Any, ai_server_url: str, fake_model: FakeOpenAI, artifacts: Path, make_agent: Any
):
    # given a customer waiting for a person
    make_agent("alex", "Alex")
    manager = make_agent("morgan", "Morgan", group="Support managers")
    conversation, _ = chat_services.do_create_conversation()
    chat_services.do_append_event(
        conversation.pk, role="customer", text="My lamp arrived broken, what now?"
    )
    escalation, _ = services.do_escalate(
        conversation.pk, trigger="customer_request", reason="Broken lamp"
    )
    assert escalation is not None and manager is not None
    fake_model.script(
        text(SUGGESTION, chunk_size=8, delay=0.03),
        json_output(
            {
                "goal": "Replace a lamp that arrived broken.",
                "tried": ["Nothing yet"],
                "identity": "not verified",
                "sentiment": "negative",
                "next_step": "Verify the customer, then start a return.",
            }
        ),
    )

    # when Alex claims it and asks the copilot (s)
    alex = log_in(browser, ai_server_url, "alex")
    alex.goto(f"{ai_server_url}/admin/console/inbox/{conversation.pk}/")
    ready(alex)
    alex.keyboard.press("c")
    expect(alex.locator("#reply-text")).to_be_visible(timeout=10_000)
    ready(alex)
    alex.locator("#timeline").focus()
    alex.keyboard.press("s")
    expect(alex.locator("#reply-text")).to_have_value(SUGGESTION, timeout=10_000)
    expect(alex.locator("#copilot-status")).to_contain_text("never sent on its own")
    assert CopilotSuggestion.objects.get().status == "shown"
    # nothing reached the customer yet
    assert not conversation.messages.filter(role="agent").exists()

    # the model read the conversation as untrusted data, with no tools
    request = fake_model.requests[0]
    assert "tools" not in request
    assert "My lamp arrived broken" in request["messages"][1]["content"]
    assert "untrusted_data" in request["messages"][1]["content"]

    # one click: a summary with the next step
    alex.click("#copilot-summary")
    expect(alex.locator("#copilot-summary-result")).to_contain_text(
        "Verify the customer, then start a return.", timeout=10_000
    )

    # Alex edits the suggestion and sends it
    alex.locator("#reply-text").press("End")
    alex.locator("#reply-text").type(" Could you share the order number?")
    alex.locator("#reply-text").press("Enter")
    expect(alex.locator("#timeline .role-agent")).to_contain_text("share the order number")
    alex.screenshot(path=str(artifacts / "inbox-copilot-desktop.png"))

    reply = CopilotSuggestion.objects.get(kind="reply")
    assert reply.status == "edited" and reply.source == "model"
    assert reply.text == SUGGESTION
    assert reply.sent_text == SUGGESTION + " Could you share the order number?"
    assert CopilotSuggestion.objects.get(kind="summary").source == "model"

    # managers see what the copilot did
    report = log_in(browser, ai_server_url, "morgan")
    report.goto(f"{ai_server_url}/admin/console/copilot/")
    expect(report.locator("main")).to_contain_text("Edited, then sent")
    assert_accessible(report, "copilot report")
    report.context.close()
    alex.context.close()
