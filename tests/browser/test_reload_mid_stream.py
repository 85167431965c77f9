"""Reloading while a reply streams: the answer stays below its question, the resumed
stream shows whole words, and a message typed during a reply keeps the same place live
and after a reload."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from apps.knowledge.services import do_load_help_center
from tests.browser.people import open_customer, say
from tests.servers import daphne

QUESTION = "How do I return an item?"
ROWS = "#log > .row:not(.awaiting), #log > .notice:not(.notice-welcome)"


@pytest.fixture
def slow_server(tmp_path: Path, transactional_db: None) -> Iterator[str]:
    """The local assistant typing slowly enough to reload in the middle of a reply."""
    do_load_help_center()
    with daphne(tmp_path, SUPPORTBOT_LOCAL_WORD_DELAY="0.12") as url:
        yield url


def order_of(page: Any) -> list[str]:
    """The log top to bottom: each row's role and its first words."""
    return list(
        page.eval_on_selector_all(
            ROWS,
            """els => els.map(el => (el.className.match(/row-(\\w+)/) || ["", "notice"])[1]
                + ": " + el.innerText.trim().split(/\\s+/).slice(0, 6).join(" "))""",
        )
    )


def mid_reply(browser: Any, url: str) -> Any:
    """A customer who asked QUESTION, with the answer streaming."""
    customer = open_customer(browser, url)
    say(customer, QUESTION)
    streaming = customer.locator(".row-assistant.streaming:not(.awaiting) .bubble")
    expect(streaming).to_contain_text("help center", timeout=15_000)
    return customer


def words(text: str) -> list[str]:
    return re.findall(r"[\w'’]+", text)


def test_a_reload_mid_reply_keeps_the_answer_below_the_question_in_whole_words(
    browser: Any, slow_server: str, artifacts: Path
):
    customer = mid_reply(browser, slow_server)

    # when the page reloads in the middle of the reply
    customer.reload()
    resumed = customer.locator(".row-assistant.streaming:not(.awaiting) .bubble")
    # four words, so three remain whole when the last one read may still be arriving
    expect(resumed).to_have_text(re.compile(r"^… (\S+\s+){4}"), timeout=10_000)
    first_seen = resumed.inner_text()
    customer.screenshot(path=str(artifacts / "chat-reload-mid-stream.png"))

    # then the question is above the answer, and the resumed text starts at a whole word
    rows = order_of(customer)
    question_at = next(i for i, row in enumerate(rows) if row.startswith("customer"))
    answer_at = next(i for i, row in enumerate(rows) if row.startswith("assistant"))
    assert question_at < answer_at, rows
    done = customer.locator(".row-assistant:not(.streaming) .bubble")
    expect(done).to_have_count(1, timeout=20_000)
    final = words(done.inner_text())
    assert first_seen.startswith("…"), first_seen
    partial = words(first_seen)[:-1]  # the last may still be arriving
    assert len(partial) >= 3, first_seen
    # every word shown while resuming is a whole word of the answer, in its order
    starts = [i for i in range(1, len(final)) if final[i : i + len(partial)] == partial]
    assert starts, (first_seen, final)
    customer.context.close()


def test_a_message_typed_during_a_reply_keeps_its_place_after_a_reload(
    browser: Any, slow_server: str, artifacts: Path
):
    customer = mid_reply(browser, slow_server)

    # the customer writes while the reply is still streaming
    say(customer, "thanks")
    done = customer.locator(".row-assistant:not(.streaming) .bubble")
    expect(done).to_have_count(2, timeout=30_000)
    expect(done.last).to_contain_text("welcome")
    live = order_of(customer)
    customer.screenshot(path=str(artifacts / "chat-typed-during-reply-live.png"), full_page=True)

    customer.reload()
    expect(done).to_have_count(2, timeout=10_000)
    reloaded = order_of(customer)
    customer.screenshot(
        path=str(artifacts / "chat-typed-during-reply-reloaded.png"), full_page=True
    )

    # the same order live and after the reload: the answer right under its question
    assert reloaded == live
    roles = [row.split(":")[0] for row in live if not row.startswith("notice")]
    assert roles == ["customer", "assistant", "customer", "assistant"], live
    customer.context.close()
