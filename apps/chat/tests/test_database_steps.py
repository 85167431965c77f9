"""The chat path's database steps: pool threads that keep no query log, however long
the process lives (DEBUG would keep 9,000 queries per thread)."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.chat.asyncdb import in_db_thread
from apps.chat.models import Conversation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_with_debug_on_a_pool_thread_forgets_each_steps_queries(settings) -> None:
    settings.DEBUG = True

    def step() -> int:
        Conversation.objects.exists()
        return len(connection.queries_log)

    logged = [await in_db_thread(step)() for _ in range(40)]
    # then each step sees only its own query, not those of the sockets before it
    assert max(logged) == 1
