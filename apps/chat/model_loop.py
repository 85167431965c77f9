"""The model and tool steps of one turn: call the model with the prompt and the tools
this conversation may use, pass its text through the output guard into `delta` frames,
run its tool calls server-side with `status` frames, and loop until it answers (at most
SUPPORTBOT_MAX_TOOL_STEPS tool steps). The engine (engine.py) begins and ends the turn."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.conf import settings

from apps.assistant import prompts
from apps.assistant.guardrails import OutputGuard, Verdict, screen_input
from apps.assistant.providers.base import (
    ErrorCode,
    Finished,
    ModelRequest,
    Provider,
    ProviderError,
    TextDelta,
    ToolCall,
    ToolCallsReady,
    Usage,
)
from apps.assistant.tools import ToolContext, ToolError, get_tool

from . import services
from .asyncdb import in_db_thread
from .turn_frames import DeltaCoalescer, send
from .turn_store import StepPrompt, TurnSetup, TurnState, prompt_for

log = logging.getLogger(__name__)

TOOL_RESULT_AUDIT_CHARS = 2000
STEP_LIMIT_TEXT = (
    "I'm having trouble finishing this one on my own. Would you like me to connect you "
    "with a person from our support team?"
)
ONE_CHANGE_AT_A_TIME = (
    "Not proposed: only one change can be put to the customer at a time, and this response "
    "already proposed one. Nothing was shown for this call. Wait for the customer's decision "
    "on the open card, then propose this change."
)


async def model_loop(
    setup: TurnSetup,
    state: TurnState,
    provider: Provider,
    guard: OutputGuard,
    coalescer: DeltaCoalescer,
) -> str:
    conversation = list(setup.conversation)
    step_prompt: StepPrompt | None = setup.first_prompt
    for step in range(settings.SUPPORTBOT_MAX_TOOL_STEPS + 1):
        state.steps = step + 1
        if step_prompt is None:
            # Verification may have bound a customer: later steps see the new session layer.
            step_prompt = await in_db_thread(prompt_for)(setup.ctx, conversation, setup.policy)
        ctx, built = step_prompt.ctx, step_prompt.built
        request = ModelRequest(
            messages=built.messages,
            tools=[spec.openai_schema() for spec in step_prompt.tools],
            max_tokens=settings.SUPPORTBOT_MAX_OUTPUT_TOKENS,
            temperature=settings.SUPPORTBOT_TEMPERATURE,
            cache_key=f"conversation-{ctx.conversation_id}",
            context=built.context,
        )
        state.layers = built.layers
        calls: tuple[ToolCall, ...] = ()
        step_text = ""  # this response's own text, whether or not the guard released it yet
        finish = ""
        state.unreported_prompt_chars = len(json.dumps(request.messages)) + len(
            json.dumps(request.tools)
        )
        state.unreported_completion_chars = 0
        # Text from an earlier step stays apart from this step's text.
        separator = "\n\n" if guard.buffer.strip() else ""
        async for event in provider.stream(request):
            if isinstance(event, TextDelta):
                if state.first_token_at is None:
                    state.first_token_at = time.monotonic()
                step_text += event.text
                state.unreported_completion_chars += len(event.text)
                await coalescer.add(guard.feed(separator + event.text))
                separator = ""
            elif isinstance(event, ToolCallsReady):
                calls = event.calls
            elif isinstance(event, Usage):
                state.unreported_prompt_chars = state.unreported_completion_chars = 0
                state.prompt_tokens += event.prompt_tokens
                state.cached_tokens += event.cached_tokens
                state.completion_tokens += event.completion_tokens
            elif isinstance(event, Finished):
                finish = event.reason
        state.finish_reason = finish
        if guard.tripped:
            return guard.final_text()
        _check_finish(finish, calls)
        if not calls:
            await coalescer.add(guard.finish())
            final = guard.final_text()
            if not final:
                raise ProviderError(
                    ErrorCode.EMPTY_REPLY, "the model ended its answer without any text"
                )
            return final
        if step == settings.SUPPORTBOT_MAX_TOOL_STEPS:
            break
        asked = prompts.tool_calls_message(step_text.strip() or None, calls)
        conversation.append(asked)
        state.exchange.append(asked)
        state.proposed_in_response = False
        for call in calls:
            content = await _run_tool(setup, state, ctx, call)
            answer = prompts.tool_result_message(call.id, content)
            conversation.append(answer)
            state.exchange.append(answer)
        step_prompt = None
    state.verdicts.append(
        Verdict(check="limits", tripwire=True, reason="tool step limit reached").as_dict()
    )
    return STEP_LIMIT_TEXT


def _check_finish(finish: str, calls: tuple[ToolCall, ...]) -> None:
    """A response cut by the token limit or the content filter is never a reply."""
    if finish == "length":
        raise ProviderError(
            ErrorCode.LENGTH,
            f"the model's response hit max_completion_tokens "
            f"({settings.SUPPORTBOT_MAX_OUTPUT_TOKENS}) and was cut"
            + (" in the middle of a tool call" if not calls else ""),
        )
    if finish == "content_filter":
        raise ProviderError(
            ErrorCode.CONTENT_FILTER, "OpenAI's content filter stopped the response"
        )


async def _run_tool(setup: TurnSetup, state: TurnState, ctx: ToolContext, call: ToolCall) -> str:
    spec = get_tool(call.name)
    started = time.monotonic()
    audit: dict[str, Any] = {"id": call.id, "name": call.name, "arguments": call.arguments}
    data: Any
    try:
        if spec is None or not spec.allowed(ctx):
            # Not offered in this conversation (unverified, say): the same answer as unknown.
            raise ToolError(f"unknown tool {call.name}")
        args = spec.parse(call.arguments)
        audit["arguments"] = args.model_dump()
        if spec.confirm and state.proposed_in_response:
            # Strict schemas and parallel calls don't mix, and one card replacing
            # another would silently drop the first change the model meant.
            raise ToolError(ONE_CHANGE_AT_A_TIME)
        await send(
            ctx.conversation_id,
            {"type": "status", "turn_id": str(state.turn_id), "text": spec.status_text(args)},
        )
        result = await in_db_thread(services.do_run_tool)(spec, ctx, args)
        data = result.data
        audit["ok"] = result.ok
        if result.verdicts:
            audit["verdicts"] = [verdict.as_dict() for verdict in result.verdicts]
            state.verdicts.extend(audit["verdicts"])
        state.citations.extend(c for c in result.citations if c not in state.citations)
        if result.proposal is not None and result.ok:
            action = await in_db_thread(services.do_propose_action)(
                ctx.conversation_id,
                turn_id=state.turn_id,
                tool_name=spec.name,
                arguments=args.model_dump(mode="json"),
                summary=result.proposal.summary,
                details=result.proposal.details,
            )
            audit["action_id"] = str(action.pk)
            state.proposed_in_response = True
            data = {
                "confirmation": "requested",
                "action_id": str(action.pk),
                "summary": result.proposal.summary,
                "note": "Nothing has changed yet. The customer sees a confirmation card and "
                "decides; you will be told the outcome.",
                **({"checks": data} if data else {}),
            }
    except ToolError as exc:
        data = {"error": str(exc)}
        audit["ok"] = False
    except Exception as exc:
        log.exception("tool %s failed", call.name)
        data = {"error": "the tool failed; tell the customer and offer a person"}
        audit["ok"] = False
        audit["exception"] = repr(exc)
    content = prompts.wrap_untrusted(f"tool:{call.name}", data)
    screen = screen_input(json.dumps(data, default=str), source=f"tool:{call.name}")
    if screen.tripwire:
        state.verdicts.append(screen.as_dict())
        audit["screen"] = screen.as_dict()
    audit["result"] = _truncate(json.dumps(data, default=str))
    audit["ms"] = round((time.monotonic() - started) * 1000)
    state.tool_audit.append(audit)
    return content


def _truncate(text: str) -> str:
    if len(text) <= TOOL_RESULT_AUDIT_CHARS:
        return text
    return text[:TOOL_RESULT_AUDIT_CHARS] + "…"
