"""The turn engine: one assistant turn, streamed.

A turn belongs to the conversation, not to the socket that asked for it: it runs
as an asyncio task kept in `_runners`, so a dropped socket does not cancel it.
One process at a time runs a conversation's turns (a lease on the conversation
row), and one turn at a time: a message sent mid-turn is stored and answered by
the next turn.

The data path of a turn (see DESIGN.md): begin it and build its first prompt in one
database step (turn_store.begin_turn), run the model and its tool calls
(model_loop.py), with its frames streamed to the sockets (turn_frames.py), and store
the final message with its audit. Every failure ends in a visible error and a stored
state.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings

from apps.assistant import prompts
from apps.assistant.guardrails import OutputGuard, Verdict
from apps.assistant.providers import get_provider
from apps.assistant.providers.base import Provider, ProviderError
from apps.assistant.tools import Citation

from . import leases, live, turn_frames
from .asyncdb import in_db_thread
from .model_loop import STEP_LIMIT_TEXT, model_loop
from .models import Turn
from .signals import handoff_offered, send_on_commit, turn_failed
from .turn_frames import DeltaCoalescer, DeltaSender, HandedOff, delta_interval, send
from .turn_store import (
    TurnSetup,
    TurnState,
    audit_fields,
    begin_turn,
    stop_turn,
    store_failure,
    store_final,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_runners: dict[uuid.UUID, asyncio.Task[None]] = {}
_wakeups: set[uuid.UUID] = set()  # kicked while their runner was finishing

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
# Provider details (HTTP statuses, the provider's own error text) stay in the audit.
GENERIC_ERROR_TEXT = "The assistant couldn't answer this time. Please retry, or ask for a person."


# --- Scheduling -------------------------------------------------------------------


def kick(conversation_id: uuid.UUID) -> None:
    """Make sure this conversation's owed turns run. Safe to call often."""
    if running_here(conversation_id):
        # The runner may be past its last check; it looks here before it exits.
        _wakeups.add(conversation_id)
        return
    _start_runner(conversation_id, None)


async def store_and_kick(conversation_id: uuid.UUID, store: Callable[[], T]) -> T:
    """Run `store`, a database step that may make a turn owed (a customer's message, a
    decided card, a retry), and make sure the owed turn runs, as `kick` does.

    With no runner of the conversation here, the runner started for it runs `store`
    in its first database step, before it claims the lease and begins the turn: one
    step, not two, between a customer's message and the model. Returns what `store`
    returns, or raises what it raised (then no turn is begun for it)."""
    if running_here(conversation_id):
        stored = await in_db_thread(store)()
        kick(conversation_id)
        return stored
    outcome: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    _start_runner(conversation_id, _FirstStep(store, outcome))
    # Shielded: a socket closed meanwhile stops waiting, the runner goes on.
    return await asyncio.shield(outcome)


@dataclass
class _FirstStep:
    """What a runner started by `store_and_kick` stores before its first claim."""

    store: Callable[[], Any]
    outcome: asyncio.Future[Any]

    def tell(self, stored: Any = None, error: BaseException | None = None) -> None:
        if self.outcome.done():
            return
        if error is not None:
            self.outcome.set_exception(error)
        else:
            self.outcome.set_result(stored)


def _start_runner(conversation_id: uuid.UUID, first: _FirstStep | None) -> None:
    task = asyncio.get_running_loop().create_task(_run_owed_turns(conversation_id, first))
    _runners[conversation_id] = task
    task.add_done_callback(lambda _: _forget(conversation_id, task))
    _ensure_heartbeat()


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


async def _run_owed_turns(conversation_id: uuid.UUID, first: _FirstStep | None) -> None:
    while True:
        _wakeups.discard(conversation_id)
        step = await _run_turns_while_owed(conversation_id, first)
        first = None
        if step.owed:
            continue  # a message stored while we let go must not wait for the next kick
        if step.wait is not None:
            # Another process holds the lease. Alive, it re-checks for owed turns
            # before it lets go; dead, its lease lapses, and then this process must
            # take over: wait for that moment and try again.
            await asyncio.sleep(step.wait + 0.05)
            continue
        # No await between this check and returning: a kick either lands before it
        # (and we go round again) or finds this task done and starts a new one.
        if conversation_id not in _wakeups:
            return


async def _run_turns_while_owed(
    conversation_id: uuid.UUID, first: _FirstStep | None = None
) -> leases.NextTurn:
    """Claim the conversation's lease and run its owed turns one after another; one
    database step before each turn (leases.take_next_turn; the first also runs
    `first`'s store). The step that stores a reply also lets the lease go when no
    turn is owed after it (`_Holding`)."""
    claim, held = True, False
    try:
        while True:
            # Open before the turn reads its starting seq: no hand-off falls between.
            with live.OwnerWatch(conversation_id) as watch:
                if first is not None:
                    step = await _store_and_claim(conversation_id, first)
                    first = None
                else:
                    step = await in_db_thread(leases.take_next_turn)(conversation_id, claim=claim)
                claim, held = False, step.held
                if step.setup is None:
                    return step
                after = _Holding()
                await _run_begun(step.setup, watch, after)
                if after.let_go is not None:
                    held = False
                    return after.let_go
    finally:
        if held:  # a turn raised: let go, so another runner can recover it
            await in_db_thread(leases.do_release_turn_lease)(conversation_id)


@dataclass
class _Holding:
    """A turn run by the lease's holder: the step storing its reply lets the lease go
    too when nothing more is owed, and says so in `let_go` (no step of its own)."""

    let_go: leases.NextTurn | None = None


async def _store_and_claim(conversation_id: uuid.UUID, first: _FirstStep) -> leases.NextTurn:
    """`first`'s store, then the first claim, in one database step. A store that fails
    is told to its caller and nothing is claimed; a claim that fails after the store
    succeeded is told to the caller as stored, and raised here."""
    try:
        stored, step = await in_db_thread(_stored_then_taken)(conversation_id, first.store)
    except BaseException as exc:
        first.tell(error=exc)
        if isinstance(exc, Exception):
            return leases.NextTurn(held=False)
        raise
    first.tell(stored)
    if isinstance(step, BaseException):
        raise step
    return step


def _stored_then_taken(
    conversation_id: uuid.UUID, store: Callable[[], Any]
) -> tuple[Any, leases.NextTurn | Exception]:
    stored = store()  # its own transaction: committed before the turn begins
    try:
        return stored, leases.take_next_turn(conversation_id, claim=True)
    except Exception as exc:
        return stored, exc


# One heartbeat per event loop renews every lease this process holds.
_heartbeats: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}


def _ensure_heartbeat() -> None:
    loop = asyncio.get_running_loop()
    task = _heartbeats.get(loop)
    if task is not None and not task.done():
        return
    task = loop.create_task(_heartbeat_forever())
    _heartbeats[loop] = task
    task.add_done_callback(lambda _: _heartbeats.pop(loop, None))


async def _heartbeat_forever() -> None:
    """Every quarter of the lease, renew the leases of the conversations whose runners
    are here, in one statement: a turn costs no database step of its own for it."""
    while True:
        await asyncio.sleep(leases.lease_seconds() / 4)
        held = [conversation_id for conversation_id, task in _runners.items() if not task.done()]
        if not held:
            continue
        try:
            await in_db_thread(leases.do_heartbeat_turn_leases)(held)
        except Exception:
            log.exception("turn lease heartbeat failed; trying again")


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
            for conversation_id in await in_db_thread(
                leases.conversations_needing_a_runner, background=True
            )():
                if not running_here(conversation_id):
                    kick(conversation_id)
        except Exception:
            log.exception("turn sweep failed; trying again")


# --- One turn -------------------------------------------------------------------------


async def run_turn(conversation_id: uuid.UUID) -> Turn | None:
    """Run one assistant turn to its end, without taking the lease (commands, tests);
    returns the stored Turn (None if none was owed)."""
    with live.OwnerWatch(conversation_id) as watch:
        setup = await in_db_thread(begin_turn)(conversation_id)
        if setup is None:
            return None
        await _run_begun(setup, watch)
        return setup.turn


async def _run_begun(
    setup: TurnSetup, watch: live.OwnerWatch, holding: _Holding | None = None
) -> None:
    conversation_id = setup.ctx.conversation_id
    relay = live.LayerRelay(conversation_id, settings.SUPPORTBOT_LAYER_DELTA_INTERVAL)
    turn_frames.relays[conversation_id] = relay
    try:
        await _run_turn(setup, watch, holding)
    finally:
        if turn_frames.relays.get(conversation_id) is relay:
            del turn_frames.relays[conversation_id]
        await relay.close()


async def _run_turn(setup: TurnSetup, watch: live.OwnerWatch, holding: _Holding | None) -> None:
    conversation_id = setup.ctx.conversation_id
    watch.since_seq = setup.start_seq
    turn = setup.turn
    state = TurnState(turn_id=turn.pk, started=time.monotonic())
    state.verdicts = [v.as_dict() for v in setup.verdicts]
    await send(conversation_id, {"type": "turn", "turn_id": str(turn.pk), "state": "started"})
    if setup.limit_text:
        await _finish(
            setup, state, setup.limit_text, model_name="", provider_name="limits", holding=holding
        )
        await _offer_human(conversation_id, reason=setup.limit_text)
        return
    provider = get_provider()
    guard = OutputGuard(canary=prompts.canary(), instructions=setup.instructions)
    coalescer = DeltaCoalescer(DeltaSender(conversation_id, turn.pk, watch), delta_interval)
    screen = _start_model_screen(provider, setup.new_texts)
    try:
        async with asyncio.timeout(settings.SUPPORTBOT_TURN_TIMEOUT):
            final_text = await model_loop(setup, state, provider, guard, coalescer)
        state.verdicts.extend(verdict.as_dict() for verdict in guard.verdicts)
        state.verdicts.extend(await _model_screen_verdicts(screen, state))
        await coalescer.close()
        await _finish(
            setup,
            state,
            final_text,
            model_name=provider.model,
            provider_name=provider.name,
            holding=holding,
        )
        if final_text == STEP_LIMIT_TEXT:
            await _offer_human(conversation_id, reason="tool step limit reached")
    except HandedOff:
        await coalescer.close(flush=False)
        await in_db_thread(stop_turn, background=True)(turn.pk, conversation_id, state, provider)
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
        if screen is not None:
            screen.cancel()
        await send(conversation_id, {"type": "turn", "turn_id": str(turn.pk), "state": "ended"})


# --- Async edges --------------------------------------------------------------------


async def _finish(
    setup: TurnSetup,
    state: TurnState,
    text: str,
    *,
    model_name: str,
    provider_name: str,
    holding: _Holding | None = None,
) -> None:
    audit = audit_fields(state, model_name, provider_name)
    metadata: dict[str, Any] = {"turn_id": str(state.turn_id)}
    if provider_name == "local":
        metadata["offline"] = True
    cited = _cited(text, state.citations)
    if cited:
        metadata["citations"] = [{"title": c.title, "url": c.url} for c in cited]
    # The customer has the text already: storing it waits behind what others wait on.
    store = functools.partial(
        store_final,
        state.turn_id,
        setup.ctx.conversation_id,
        setup.start_seq,
        text,
        audit,
        metadata,
    )
    stored, let_go = await in_db_thread(_stored_then_let_go, background=True)(
        setup.ctx.conversation_id, store, holding is not None
    )
    if not stored:
        raise HandedOff
    if holding is not None:
        holding.let_go = let_go


def _stored_then_let_go(
    conversation_id: uuid.UUID, store: Callable[..., bool], holding: bool
) -> tuple[bool, leases.NextTurn | None]:
    """The reply stored and, for the lease's holder, the lease let go unless a turn is
    owed, in the same transaction: under the reply's row lock, nothing can become owed
    between the two (leases.let_go_unless_owed, locked)."""
    let_go: list[leases.NextTurn | None] = [None]

    def under_lock() -> None:
        let_go[0] = leases.let_go_unless_owed(conversation_id, locked=True)

    stored = store(under_lock=under_lock if holding else None)
    return stored, let_go[0] if stored else None


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
    await send(
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
    except Exception:
        # It only flags, beside a reply the customer has already read: its failure is
        # recorded, and never costs the reply.
        log.exception("the model screen failed")
        return [Verdict(check="model_screen", tripwire=False, reason="failed").as_dict()]
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
