"""The built-in local assistant: a deterministic stand-in for the model.

It has no language model. It reads the same `ModelRequest` the OpenAI provider
gets and answers with the same events: streamed text, or the tool calls the
real model would make. Its behaviour is a list of skills (see `skills.py`),
tried in priority order; each app contributes the skills for its own tools.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from typing import Any, Unpack

from django.conf import settings

from apps.assistant.providers.base import (
    ErrorCode,
    Finished,
    JsonCall,
    ModelRequest,
    ProviderError,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
)

from .skills import LocalState, decide

_call_ids = itertools.count(1)


class LocalProvider:
    name = "local"
    model = "local-assistant"

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        state = LocalState.from_request(request)
        reply = decide(state)
        prompt_tokens = _rough_tokens(json.dumps(request.messages))
        if reply.tool_calls:
            calls = tuple(
                ToolCall(id=f"local_{next(_call_ids)}", name=name, arguments=json.dumps(args))
                for name, args in reply.tool_calls
            )
            yield ToolCallsReady(calls=calls)
            yield Usage(prompt_tokens=prompt_tokens, completion_tokens=8 * len(calls))
            yield Finished(reason="tool_calls")
            return
        delay = settings.SUPPORTBOT_LOCAL_WORD_DELAY
        for piece in re.findall(r"\S+\s*|\s+", reply.text):
            yield TextDelta(text=piece)
            if delay:
                await asyncio.sleep(delay)
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=_rough_tokens(reply.text))
        yield Finished(reason="stop")

    async def complete_json(self, **call: Unpack[JsonCall]) -> tuple[dict[str, Any], Usage]:
        # Callers use deterministic rules when the local assistant is configured.
        raise ProviderError(ErrorCode.UNSUPPORTED, "the local assistant has no structured output")


def _rough_tokens(text: str) -> int:
    return max(1, len(text) // 4)


__all__ = ["LocalProvider"]
