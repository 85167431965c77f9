"""A help-center answer through the real socket and turn engine, with the local assistant."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.chat.tests.conftest import chat, fast_local  # noqa: F401 - fixtures
from apps.knowledge.models import UnansweredQuestion
from apps.knowledge.services import do_load_help_center

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
async def demo_help_center(fast_local: None) -> None:  # noqa: F811
    await database_sync_to_async(do_load_help_center)()


async def test_an_answer_from_the_help_center_carries_its_citations(
    chat: Any,  # noqa: F811
    demo_help_center: None,
) -> None:
    socket = await chat()
    await socket.say("How long do refunds to a credit card take?")

    frames = await socket.receive_until(
        lambda f: f["type"] == "message" and f["role"] == "assistant"
    )

    statuses = [f["text"] for f in frames if f["type"] == "status"]
    assert "Searching the help center…" in statuses
    final = frames[-1]
    assert "5 to 7 business days" in final["text"]
    assert (
        "Source: [Refunds and how long they take]"
        "(/help/refund-timelines/#credit-card-and-paypal-refunds)"
    ) in final["text"]
    assert final["citations"][0] == {
        "title": "Refunds and how long they take",
        "url": "/help/refund-timelines/",
    }


async def test_an_uncovered_question_has_no_citations_and_is_counted_for_managers(
    chat: Any,  # noqa: F811
    demo_help_center: None,
) -> None:
    socket = await chat()
    await socket.say("do you have a loyalty program with reward points?")

    final = await socket.reply()

    assert "help center doesn't cover that" in final["text"]
    assert not final.get("citations")
    count = await database_sync_to_async(UnansweredQuestion.objects.count)()
    assert count == 1
