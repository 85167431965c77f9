"""A server process pays for the model client's imports and the guard's setup at start."""

from __future__ import annotations

import gc
import sys

from django.db import connections

from apps.assistant import prompts
from apps.assistant.guardrails import output
from apps.chat import warmup


def test_the_warm_up_imports_the_model_client_and_runs_the_guard_without_the_database(
    settings,
) -> None:
    # given
    settings.OPENAI_API_KEY = "sk-test"
    output._instruction_index.cache_clear()

    # when (the test has no database access: any query would raise)
    warmup.warm_up()

    # then
    assert "apps.assistant.providers.openai" in sys.modules
    assert output._instruction_index.cache_info().currsize == 1
    output._instruction_index((prompts.platform_text(),))
    assert output._instruction_index.cache_info().hits == 1
    assert all(connection.connection is None for connection in connections.all())


def test_the_warm_up_runs_in_a_background_thread_and_then_freezes_what_is_made(
    settings,
) -> None:
    settings.OPENAI_API_KEY = ""
    gc.unfreeze()

    try:
        thread = warmup.start()
        thread.join(timeout=30)

        assert thread.daemon
        assert not thread.is_alive()
        # The modules and classes loaded so far are out of the collector's way.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
