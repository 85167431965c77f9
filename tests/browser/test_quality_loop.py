"""A support manager in a real browser closes the quality loop: opens a low-scored
conversation's review, disagrees with one criterion, saves the chat as a test case and
finds it in the list of saved cases."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from apps.chat import services
from apps.chat.models import Conversation, Message
from apps.chat.roles import MANAGERS, ensure_groups
from apps.reports import quality
from apps.reports.models import CriterionScore, QualityReview, SavedCase


def an_ignored_request_for_a_person() -> Conversation:
    """Written straight to the tables (Playwright's loop runs in this thread)."""
    conversation, _ = services.do_create_conversation()
    said = [
        ("customer", "My parcel #W4444444 is late, I want to talk to a human"),
        ("assistant", "I can help you here! Is there anything else?"),
        ("customer", "a PERSON please"),
    ]
    for seq, (role, text) in enumerate(said, start=1):
        Message.objects.create(conversation=conversation, seq=seq, role=role, text=text)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_seq=len(said), status="closed", close_reason="idle", closed_at=timezone.now()
    )
    conversation.refresh_from_db()
    return conversation


def test_a_manager_disagrees_with_a_low_score_and_saves_the_chat_as_a_test_case(
    browser: Any, live_server_url: str, artifacts: Path, settings: Any
):
    # given: a conversation the rule-based reviewer scored low, and a manager
    settings.OPENAI_API_KEY = ""
    conversation = an_ignored_request_for_a_person()
    review = quality.do_review_conversation(conversation.pk)
    assert review is not None and review.low
    manager = get_user_model().objects.create_user(
        "morgan", "morgan@example.com", "a-manager-password", is_staff=True
    )
    manager.groups.set([ensure_groups()[MANAGERS]])
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(live_server_url + "/admin/login/?next=/admin/reports/qualityreview/")
    page.fill("#id_username", "morgan")
    page.fill("#id_password", "a-manager-password")
    page.click("input[type=submit]")

    # when: the low-scored reviews, then this one
    page.locator('#changelist-filter a[href="?low=yes"]').click()
    page.locator("#result_list a", has_text=str(conversation.pk)[:8]).first.click()
    expect(page.locator(".sb-lines")).to_contain_text("a PERSON please")
    rows = page.locator("#scores-group tbody tr.form-row")
    resolved = rows.filter(has_text="Resolved")
    expect(resolved).to_contain_text("1 / 5")
    # the manager disagrees with "resolved" (the customer got a tracking answer elsewhere)
    resolved.locator("select").select_option("disagree")
    resolved.locator("input[name$=verdict_note]").fill("Tracking was sent by email")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("changed successfully")
    page.screenshot(path=str(artifacts / "quality-review-disagree.png"), full_page=True)

    # and saves the conversation as a test case, editing the drafted goal
    page.click("a.sb-save-case")
    expect(page.locator("#id_goal")).to_have_value(
        "My parcel #W4444444 is late, I want to talk to a human"
    )
    expect(page.locator("#id_escalation")).to_have_value("none")
    page.select_option("#id_escalation", "escalated")
    page.fill("#id_name", "Late parcel: hand off when asked")
    page.click("input[name=_save]")

    # then: the case is in the list, not run yet, and the disagreement is recorded
    expect(page).to_have_url(f"{live_server_url}/admin/reports/savedcase/")
    expect(page.locator("#result_list")).to_contain_text("Late parcel: hand off when asked")
    expect(page.locator("#result_list")).to_contain_text("not run yet")
    page.screenshot(path=str(artifacts / "saved-cases.png"), full_page=True)
    verdict = CriterionScore.objects.get(review=review, key="resolved")
    assert (verdict.verdict, verdict.verdict_by_id) == ("disagree", manager.pk)
    case = SavedCase.objects.get()
    assert (case.conversation_id, case.escalation) == (conversation.pk, "escalated")
    assert QualityReview.objects.get(pk=review.pk).low
