"""What the first turn after a restart would otherwise pay, done when a server starts.

Importing the `openai` SDK and its chat resources takes most of a second. The ASGI
module calls `start()`, so only server processes (Daphne) do this, in a background
thread, and `manage.py` commands are not slowed down.

It never touches the database: at import time the connection settings may not be
final (the test runner renames the database), and a pool opened here would point
at the wrong one. So the output guard's index of the operator's texts is still
built by the first turn (milliseconds); its code and the platform text are warmed.

Then what has been made so far (modules, classes, settings, the SDK's types: about
200,000 objects the process keeps for its life) is moved out of the garbage
collector's sight with `gc.freeze()`. Otherwise every full collection walks all of
them while the whole process waits: about 100 ms each, several a minute under 50
chats, each one a pause in every customer's stream and every waiting message.
"""

from __future__ import annotations

import gc
import threading

from django.conf import settings


def warm_up() -> None:
    """Import the model client and the output guard, and run the guard once."""
    if settings.OPENAI_API_KEY:
        from openai import AsyncOpenAI

        from apps.assistant.providers import openai  # noqa: F401

        # The SDK imports its resources and types when they are first touched.
        AsyncOpenAI(api_key="warm-up").chat.completions.with_streaming_response  # noqa: B018
    from apps.assistant import prompts
    from apps.assistant.guardrails.output import OutputGuard

    guard = OutputGuard(canary=prompts.canary(), instructions=[prompts.platform_text()])
    guard.feed("Hello! See https://example.com/help/ for more.")


def settle() -> None:
    """Warm up, then freeze what the process has made so far (see above)."""
    warm_up()
    gc.collect()
    gc.freeze()


def start() -> threading.Thread:
    thread = threading.Thread(target=settle, name="supportbot-warm-up", daemon=True)
    thread.start()
    return thread
