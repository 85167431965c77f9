"""A help-center answer through the real socket and turn engine, with the local assistant."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.chat.tests.conftest import chat, fast_local  # noqa: F401 - fixtures
from apps.knowledge.models import UnansweredQuestion
from apps.knowledge.services import do_load_help_center

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

Ask = Callable[[str], Awaitable[list[dict[str, Any]]]]


@pytest.fixture
async def ask(chat: Any) -> Ask:  # noqa: F811
    """Ask the local assistant, on the demo help center, in a new conversation: every
    frame up to its reply."""
    await database_sync_to_async(do_load_help_center)()

    async def asking(question: str) -> list[dict[str, Any]]:
        socket = await chat()
        await socket.say(question)
        return await socket.receive_until(
            lambda f: f["type"] == "message" and f["role"] == "assistant"
        )

    return asking


async def test_an_answer_from_the_help_center_carries_its_citations(ask: Ask) -> None:
    frames = await ask("How long do refunds to a credit card take?")

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
    ask: Ask,
) -> None:
    final = (await ask("do you have a loyalty program with reward points?"))[-1]

    assert "help center doesn't cover that" in final["text"]
    assert not final.get("citations")
    count = await database_sync_to_async(UnansweredQuestion.objects.count)()
    assert count == 1
