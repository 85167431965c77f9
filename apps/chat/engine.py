"""The turn engine: one assistant turn, streamed.

A turn belongs to the conversation, not to the socket that asked for it: it runs
as an asyncio task kept in `_runners`, so a dropped socket does not cancel it.
One process at a time runs a conversation's turns (a lease on the conversation
row), and one turn at a time: a message sent mid-turn is stored and answered by
the next turn.

The data path of a turn (see DESIGN.md): build the prompt layers, call the
provider with the tools this conversation may use, pass text through the output
guard and coalesce it into `delta` frames, run tool calls server-side with
`status` frames, loop until the model answers (bounded steps), store the final
message with its audit. Every failure ends in a visible error and a stored state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from apps.assistant import prompts
from apps.assistant.guardrails import OutputGuard, Verdict, screen_input
from apps.assistant.providers import get_provider
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
from apps.assistant.tools import Citation, ToolContext, ToolError, get_tool

from . import leases, live, services
from .asyncdb import in_db_thread
from .models import Turn
from .signals import handoff_offered, send_on_commit, turn_failed
from .turn_store import (
    TurnSetup,
    TurnState,
    audit_fields,
    begin_turn,
    prompt_for,
    refresh_ctx,
    stop_turn,
    store_failure,
    store_final,
)

log = logging.getLogger(__name__)

TOOL_RESULT_AUDIT_CHARS = 2000
_runners: dict[uuid.UUID, asyncio.Task[None]] = {}
_wakeups: set[uuid.UUID] = set()  # kicked while their runner was finishing
_relays: dict[uuid.UUID, live.LayerRelay] = {}  # the running turn's frames to other processes

STEP_LIMIT_TEXT = (
    "I'm having trouble finishing this one on my own. Would you like me to connect you "
    "with a person from our support team?"
)
ERROR_TEXT = {
    "rate_limited": "The assistant is busy right now. Please retry in a moment.",
    "timeout": "The assistant took too long to answer. Please retry.",
    "stream_broken": "The assistant's reply was cut off. Please retry.",
    "provider_unavailable": "The assistant is unavailable right now. Please retry shortly.",
    # The model's answer ended early (its finish_reason): never stored as a reply.
    "length": "My answer ran too long and was cut off, so I didn't send it. Could you ask "
    "about one thing at a time? You can also ask for a person.",
    "content_filter": "I can't answer that as written. Could you rephrase your question, or "
    "would you like a person from our support team to help?",
    "empty_reply": "The assistant couldn't put an answer together this time. Please retry, "
    "or ask for a person.",
}
ONE_CHANGE_AT_A_TIME = (
    "Not proposed: only one change can be put to the customer at a time, and this response "
    "already proposed one. Nothing was shown for this call. Wait for the customer's decision "
    "on the open card, then propose this change."
)
# Provider details (HTTP statuses, the provider's own error text) stay in the audit.
GENERIC_ERROR_TEXT = "The assistant couldn't answer this time. Please retry, or ask for a person."


class HandedOff(Exception):
    """The conversation left bot mode mid-turn: stop without another word."""


# --- Scheduling -------------------------------------------------------------------


def kick(conversation_id: uuid.UUID) -> None:
    """Make sure this conversation's owed turns run. Safe to call often."""
    task = _runners.get(conversation_id)
    if task is not None and not task.done():
        # The runner may be past its last check; it looks here before it exits.
        _wakeups.add(conversation_id)
        return
    task = asyncio.get_running_loop().create_task(_run_owed_turns(conversation_id))
    _runners[conversation_id] = task
    task.add_done_callback(lambda _: _forget(conversation_id, task))


def _forget(conversation_id: uuid.UUID, task: asyncio.Task[None]) -> None:
    if _runners.get(conversation_id) is task:
        del _runners[conversation_id]


def running_here(conversation_id: uuid.UUID) -> bool:
    task = _runners.get(conversation_id)
    return task is not None and not task.done()


async def wait_idle(conversation_id: uuid.UUID) -> None:
    """Wait for this process's turns of the conversation to end (tests, commands)."""
    while (task := _runners.get(conversation_id)) is not None:
        if task.done():
            # Awaiting a finished task does not yield, so its done callback (which
            # forgets it) would never run and this loop would spin forever.
            _forget(conversation_id, task)
            continue
        await task


async def _run_owed_turns(conversation_id: uuid.UUID) -> None:
    while True:
        _wakeups.discard(conversation_id)
        if await in_db_thread(leases.check_claim_turn_lease)(conversation_id):
            try:
                # Holding the lease, any turn still `running` is a dead process's.
                await in_db_thread(leases.do_recover_interrupted_turns)(conversation_id)
                while await in_db_thread(leases.needs_answer)(conversation_id):
                    await run_turn(conversation_id)
            finally:
                await in_db_thread(leases.do_release_turn_lease)(conversation_id)
            # A message stored while we released must not wait for the next kick.
            if await in_db_thread(leases.needs_answer)(conversation_id):
                continue
        else:
            # Another process holds the lease. Alive, it re-checks for owed turns
            # before it lets go; dead, its lease lapses, and then this process must
            # take over: wait for that moment and try again.
            wait = await in_db_thread(leases.seconds_until_lease_lapses)(conversation_id)
            if wait is not None:
                await asyncio.sleep(wait + 0.05)
                continue
        # No await between this check and returning: a kick either lands before it
        # (and we go round again) or finds this task done and starts a new one.
        if conversation_id not in _wakeups:
            return


_sweeper: asyncio.Task[None] | None = None


def ensure_sweeper() -> None:
    """Start this process's sweep for owed turns nobody runs (once per event loop)."""
    global _sweeper
    loop = asyncio.get_running_loop()
    if _sweeper is not None and not _sweeper.done() and _sweeper.get_loop() is loop:
        return
    _sweeper = loop.create_task(_sweep_forever())


async def _sweep_forever() -> None:
    """Every few seconds, pick up conversations whose turn is owed but not running:
    the process that held them died (its lease lapsed) or a kick was lost."""
    while True:
        await asyncio.sleep(settings.SUPPORTBOT_TURN_SWEEP_SECONDS)
        try:
            for conversation_id in await in_db_thread(leases.conversations_needing_a_runner)():
                if not running_here(conversation_id):
                    kick(conversation_id)
        except Exception:
            log.exception("turn sweep failed; trying again")


# --- One turn -------------------------------------------------------------------------


async def run_turn(conversation_id: uuid.UUID) -> Turn | None:
    """Run one assistant turn to its end; returns the stored Turn (None if none was owed)."""
    with live.OwnerWatch(conversation_id) as watch:
        relay = live.LayerRelay(conversation_id, settings.SUPPORTBOT_LAYER_DELTA_INTERVAL)
        _relays[conversation_id] = relay
        try:
            return await _run_turn(conversation_id, watch)
        finally:
            if _relays.get(conversation_id) is relay:
                del _relays[conversation_id]
            await relay.close()


async def _run_turn(conversation_id: uuid.UUID, watch: live.OwnerWatch) -> Turn | None:
    setup = await in_db_thread(begin_turn)(conversation_id)
    if setup is None:
        return None
    watch.since_seq = setup.start_seq
    turn = setup.turn
    state = TurnState(turn_id=turn.pk, started=time.monotonic())
    state.verdicts = [v.as_dict() for v in setup.verdicts]
    await _send(conversation_id, {"type": "turn", "turn_id": str(turn.pk), "state": "started"})
    if setup.limit_text:
        await _finish(setup, state, setup.limit_text, model_name="", provider_name="limits")
        await _offer_human(conversation_id, reason=setup.limit_text)
        return turn
    provider = get_provider()
    guard = OutputGuard(canary=prompts.canary(), instructions=setup.instructions)
    coalescer = DeltaCoalescer(
        DeltaSender(conversation_id, turn.pk, watch), settings.SUPPORTBOT_DELTA_INTERVAL
    )
    heartbeat = asyncio.get_running_loop().create_task(_heartbeat(conversation_id))
    screen = _start_model_screen(provider, setup.new_texts)
    try:
        async with asyncio.timeout(settings.SUPPORTBOT_TURN_TIMEOUT):
            final_text = await _model_loop(setup, state, provider, guard, coalescer)
        state.verdicts.extend(verdict.as_dict() for verdict in guard.verdicts)
        state.verdicts.extend(await _model_screen_verdicts(screen, state))
        await coalescer.close()
        await _finish(
            setup, state, final_text, model_name=provider.model, provider_name=provider.name
        )
        if final_text == STEP_LIMIT_TEXT:
            await _offer_human(conversation_id, reason="tool step limit reached")
    except HandedOff:
        await coalescer.close(flush=False)
        await in_db_thread(stop_turn)(turn.pk, conversation_id, state, provider)
    except ProviderError as exc:
        await coalescer.close(flush=False)
        await _fail(
            setup,
            state,
            provider,
            exc.code,
            ERROR_TEXT.get(exc.code, GENERIC_ERROR_TEXT),
            exc.message,
        )
    except TimeoutError:
        await coalescer.close(flush=False)
        await _fail(setup, state, provider, "timeout", ERROR_TEXT["timeout"], "turn timed out")
    except Exception as exc:
        log.exception("turn %s crashed", turn.pk)
        await coalescer.close(flush=False)
        await _fail(
            setup,
            state,
            provider,
            "internal_error",
            "Something went wrong on our side. Please retry.",
            repr(exc),
        )
    finally:
        heartbeat.cancel()
        if screen is not None:
            screen.cancel()
        await _send(conversation_id, {"type": "turn", "turn_id": str(turn.pk), "state": "ended"})
    return turn


async def _model_loop(
    setup: TurnSetup,
    state: TurnState,
    provider: Provider,
    guard: OutputGuard,
    coalescer: DeltaCoalescer,
) -> str:
    conversation = list(setup.conversation)
    ctx = setup.ctx
    for step in range(settings.SUPPORTBOT_MAX_TOOL_STEPS + 1):
        state.steps = step + 1
        built, tool_specs = await in_db_thread(prompt_for)(ctx, conversation, setup.policy)
        request = ModelRequest(
            messages=built.messages,
            tools=[spec.openai_schema() for spec in tool_specs],
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
        asked = {
            "role": "assistant",
            "content": step_text.strip() or None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in calls
            ],
        }
        conversation.append(asked)
        state.exchange.append(asked)
        state.proposed_in_response = False
        for call in calls:
            content = await _run_tool(setup, state, ctx, call)
            answer = {"role": "tool", "tool_call_id": call.id, "content": content}
            conversation.append(answer)
            state.exchange.append(answer)
        # Verification may have bound a customer: later steps see the new session layer.
        ctx = await in_db_thread(refresh_ctx)(ctx)
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
        await _send(
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


# --- Async edges --------------------------------------------------------------------


async def _finish(
    setup: TurnSetup, state: TurnState, text: str, *, model_name: str, provider_name: str
) -> None:
    audit = audit_fields(state, model_name, provider_name)
    metadata: dict[str, Any] = {"turn_id": str(state.turn_id)}
    if provider_name == "local":
        metadata["offline"] = True
    cited = _cited(text, state.citations)
    if cited:
        metadata["citations"] = [{"title": c.title, "url": c.url} for c in cited]
    stored = await in_db_thread(store_final)(
        state.turn_id, setup.ctx.conversation_id, setup.start_seq, text, audit, metadata
    )
    if not stored:
        raise HandedOff


def _cited(text: str, citations: list[Citation]) -> list[Citation]:
    """The articles shown under the answer: those the answer links, else the best one."""
    unique = list({citation.url: citation for citation in reversed(citations)}.values())
    unique.reverse()
    referenced = [citation for citation in unique if citation.url in text]
    return (referenced or unique[:1])[:3]


async def _fail(
    setup: TurnSetup, state: TurnState, provider: Provider, code: str, text: str, detail: str
) -> None:
    audit = audit_fields(state, provider.model, provider.name)
    await in_db_thread(store_failure)(
        state.turn_id, setup.ctx.conversation_id, code, text, detail, audit
    )
    await _send(
        setup.ctx.conversation_id,
        {"type": "error", "code": code, "message": text, "turn_id": str(state.turn_id)},
    )
    # Repeated provider failures hand the conversation to a person (the
    # escalations app listens).
    await in_db_thread(send_on_commit)(turn_failed, setup.ctx.conversation_id, code=code)


async def _offer_human(conversation_id: uuid.UUID, *, reason: str) -> None:
    """A cap was hit: offer a person (the escalations app listens and decides how)."""
    await in_db_thread(send_on_commit)(handoff_offered, conversation_id, reason=reason)


def _start_model_screen(provider: Provider, texts: list[str]) -> asyncio.Task[Any] | None:
    """The model-based screen runs beside the turn, so the first token never waits for it."""
    if provider.name == "local" or not settings.SUPPORTBOT_MODEL_SCREEN or not texts:
        return None
    from apps.assistant.classifier import classify

    return asyncio.get_running_loop().create_task(classify(provider, texts))


async def _model_screen_verdicts(
    screen: asyncio.Task[Any] | None, state: TurnState
) -> list[dict[str, Any]]:
    """The screen's verdict for the audit; its tokens are added to the turn's, which
    pays for them."""
    if screen is None:
        return []
    try:
        async with asyncio.timeout(settings.SUPPORTBOT_MODEL_SCREEN_WAIT):
            verdict, usage = await screen
    except TimeoutError:
        return [Verdict(check="model_screen", tripwire=False, reason="timed out").as_dict()]
    if usage is not None:
        state.prompt_tokens += usage.prompt_tokens
        state.cached_tokens += usage.cached_tokens
        state.completion_tokens += usage.completion_tokens
    if verdict is None:
        return []
    entry = verdict.as_dict()
    if usage is not None:
        entry["tokens"] = {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens}
    return [entry]


async def _heartbeat(conversation_id: uuid.UUID) -> None:
    while True:
        await asyncio.sleep(leases.lease_seconds() / 4)
        await in_db_thread(leases.do_heartbeat_turn_lease)(conversation_id)


async def _send(conversation_id: uuid.UUID, frame: dict[str, Any]) -> None:
    """A frame of the turn in progress: to this process's sockets at once, and to those
    of other processes through the turn's relay (coalesced, only if any listen)."""
    await live.deliver_live(conversation_id, frame)
    relay = _relays.get(conversation_id)
    if relay is not None:
        await relay.frame(frame)


class DeltaSender:
    """Sends a turn's streamed text, stopping the turn once a person owns the conversation.

    Who owns it is known in memory (`live.OwnerWatch`, moved by hand-off events), so no
    frame waits for the database; the customer's socket drops any text frame that
    arrives after the hand-off itself (consumers.LIVE_BOT_FRAMES), and the final reply
    is stored only under the row lock (`store_final`).
    """

    def __init__(self, conversation_id: uuid.UUID, turn_id: uuid.UUID, watch: live.OwnerWatch):
        self.conversation_id = conversation_id
        self.turn_id = str(turn_id)
        self.watch = watch

    async def __call__(self, text: str) -> None:
        if self.watch.changed:
            raise HandedOff
        await _send(self.conversation_id, {"type": "delta", "turn_id": self.turn_id, "text": text})


class DeltaCoalescer:
    """Gathers streamed text and sends it about every `interval` seconds as one frame."""

    def __init__(self, send: Callable[[str], Awaitable[None]], interval: float) -> None:
        self.send = send
        self.interval = interval
        self.buffer = ""
        self.last_flush = 0.0
        self.error: BaseException | None = None
        self.ticker: asyncio.Task[None] | None = None

    async def add(self, text: str) -> None:
        if self.error is not None:
            raise self.error
        if not text:
            return
        self.buffer += text
        if time.monotonic() - self.last_flush >= self.interval:
            await self.flush()
        elif self.ticker is None or self.ticker.done():
            self.ticker = asyncio.get_running_loop().create_task(self._flush_later())

    async def flush(self) -> None:
        if not self.buffer:
            return
        text, self.buffer = self.buffer, ""
        self.last_flush = time.monotonic()
        await self.send(text)

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.interval)
        try:
            await self.flush()
        except BaseException as exc:  # surfaced on the next add() or close()
            self.error = exc

    async def close(self, *, flush: bool = True) -> None:
        if self.ticker is not None and not self.ticker.done():
            self.ticker.cancel()
        if self.error is not None and flush:
            raise self.error
        if flush:
            await self.flush()
        else:
            self.buffer = ""
