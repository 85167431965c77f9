"""A support manager in a real browser: the dashboard, the escalated list, one conversation's
tool calls and audit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from apps.chat import services
from apps.chat.models import Conversation, Message, Turn
from apps.chat.roles import MANAGERS, ensure_groups
from apps.reports.seed import seed_conversations
from tests.browser.people import log_in


def an_escalated_conversation_with_a_tool_call() -> str:
    """Written straight to the tables: Playwright's event loop runs in this thread, so the
    services' after-commit broadcasts cannot run here (and nobody listens)."""
    conversation, _ = services.do_create_conversation()

    def event(seq: int, role: str, text: str, kind: str = "message", **meta: Any) -> Message:
        return Message.objects.create(
            conversation=conversation, seq=seq, kind=kind, role=role, text=text, metadata=meta
        )

    event(1, "customer", "Where is order #W7777777? <i>now</i>")
    reply = event(2, "assistant", "It is delayed at the depot.")
    Turn.objects.create(
        conversation=conversation,
        status=Turn.Status.COMPLETED,
        answers_seq=1,
        provider="openai",
        model="gpt-4o-mini",
        layers={"platform": "platform.v1", "operator": "operator.v1@4", "session": "session.v1"},
        verdicts=[{"check": "input_screen", "tripwire": False, "reason": ""}],
        tool_calls=[
            {
                "id": "call_1",
                "name": "get_order",
                "arguments": {"order_id": "#W7777777"},
                "ok": True,
                "result": '{"status": "processed"}',
                "ms": 12,
            }
        ],
        steps=2,
        prompt_tokens=1320,
        completion_tokens=64,
        cost_usd=Decimal("0.000236"),
        ttft_ms=640,
        duration_ms=1900,
        message=reply,
    )
    event(3, "customer", "Not good enough, get me a person")
    event(4, "system", "You're in the queue.", kind="handoff", state="queued", position=1)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_seq=4, status="closed", close_reason="agent", closed_at=timezone.now()
    )
    return str(conversation.pk)


def test_a_manager_reviews_the_dashboard_and_an_escalated_conversation(
    browser: Any, live_server_url: str, artifacts: Path
):
    # given: a month of history, one escalated conversation we know, and a manager
    seed_conversations(days=14, per_day=8, seed=5)
    conversation_id = an_escalated_conversation_with_a_tool_call()
    manager = get_user_model().objects.create_user(
        "morgan", "morgan@example.com", "a-manager-password", is_staff=True
    )
    manager.groups.set([ensure_groups()[MANAGERS]])

    # when: the manager logs in and lands on the dashboard
    page = log_in(
        browser,
        live_server_url,
        "morgan",
        "/admin/reports/dashboard/",
        password="a-manager-password",
        viewport={"width": 1400, "height": 1000},
    )
    expect(page.locator("#content h1")).to_have_text("Support dashboard")
    # six activity charts, the quality trend, a trend and a distribution per criterion
    expect(page.locator("svg.chart")).to_have_count(6 + 1 + 2 * 5)
    expect(page.locator(".sb-card").first).to_contain_text("Conversations")
    page.screenshot(path=str(artifacts / "manager-dashboard.png"), full_page=True)

    # when: the list, filtered to escalated conversations
    page.goto(live_server_url + "/admin/chat/conversation/")
    page.locator('#changelist-filter a[href="?escalated=yes"]').click()
    expect(page).to_have_url(f"{live_server_url}/admin/chat/conversation/?escalated=yes")
    rows = page.locator("#result_list tbody tr")
    expect(rows.first).to_be_visible()
    page.locator("#result_list a", has_text=conversation_id[:8]).click()

    # then: its tool calls and audit, escaped
    tool_call = page.locator(".sb-tool-call").first
    expect(tool_call).to_contain_text("get_order")
    expect(tool_call).to_contain_text("Looking up order #W7777777.")
    expect(page.locator(".sb-turn").first).to_contain_text("platform: platform.v1")
    expect(page.locator(".sb-turn").first).to_contain_text("input_screen ok")
    expect(page.locator(".sb-turn").first).to_contain_text("1320 in / 64 out")
    expect(page.locator("#review")).to_contain_text("Where is order #W7777777? <i>now</i>")
    expect(page.locator("#review")).to_contain_text("Viewed a conversation")
    page.screenshot(path=str(artifacts / "manager-conversation.png"), full_page=True)
    page.context.close()
