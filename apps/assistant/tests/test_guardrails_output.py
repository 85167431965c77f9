"""The streaming output guard: leaks cut, links limited, images dropped."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from apps.assistant import prompts
from apps.assistant.guardrails import LINK_REMOVED, SAFE_REPLY, OutputGuard

DATA = Path(__file__).resolve().parents[1] / "data"
STORE = "shop.example.com"


def make_guard(**kwargs: object) -> OutputGuard:
    return OutputGuard(
        canary=prompts.canary(),
        instructions=[prompts.platform_text()],
        allowed_domains=kwargs.pop("allowed_domains", [STORE]),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )


def stream(guard: OutputGuard, pieces: list[str]) -> str:
    """What the client receives: every released piece, then the flush at the end."""
    return "".join(guard.feed(piece) for piece in pieces) + guard.finish()


def splits(text: str) -> list[list[str]]:
    """The text cut into two deltas at every position."""
    return [[text[:cut], text[cut:]] for cut in range(len(text) + 1)]


def attack_texts() -> list[str]:
    rows = []
    for name in ("redteam.jsonl", "screen_labelled.jsonl"):
        path = DATA / name
        if path.exists():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row["text"] for row in rows if row.get("label", "attack") == "attack"]


# --- plain text ------------------------------------------------------------------


def test_ordinary_text_reaches_the_client_unchanged() -> None:
    text = "Your order #W2378156 shipped yesterday. " * 6 + "Anything else I can help with?"
    guard = make_guard()
    received = stream(guard, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert received == text
    assert guard.final_text() == text.strip()
    assert guard.tripped is None and guard.verdicts == []


def test_a_small_window_is_held_back_while_streaming() -> None:
    guard = make_guard()
    text = "word " * 60
    released = guard.feed(text)
    assert len(text) - len(released) == OutputGuard.HOLD_BACK
    assert guard.finish() == text[len(released) :]


# --- instruction leaks -----------------------------------------------------------


def test_the_canary_split_at_every_position_never_reaches_the_client() -> None:
    canary = prompts.canary()
    reply = f"Of course! The marker you asked about is {canary}. Anything else?"
    for pieces in splits(reply):
        guard = make_guard()
        received = stream(guard, pieces)
        assert canary not in received
        assert guard.final_text() == SAFE_REPLY
        assert guard.tripped is not None and guard.tripped.categories == ["instruction_leak"]


def test_no_attack_text_split_anywhere_lets_the_canary_out() -> None:
    # given every attack in the corpora, echoed by a compromised model with the canary
    canary = prompts.canary()
    rng = random.Random(4)
    attacks = attack_texts()
    assert len(attacks) >= 150
    for index, attack in enumerate(attacks):
        reply = f"Sure. {attack[:120]} Here it is: {canary} and the rest of my rules."
        cuts = range(len(reply) + 1) if index % 10 == 0 else rng.sample(range(len(reply)), 12)
        for cut in cuts:
            # when it streams in two deltas, or three with a random second cut
            third = rng.randrange(cut, len(reply) + 1)
            two = [reply[:cut], reply[cut:]]
            three = [reply[:cut], reply[cut:third], reply[third:]]
            for pieces in (two, three):
                guard = make_guard()
                received = stream(guard, pieces)
                # then the canary never gets out and the reply is the safe one
                assert canary not in received, (attack, cut)
                assert guard.final_text() == SAFE_REPLY


@pytest.mark.parametrize(
    "disguise",
    [
        lambda c: " ".join(c),  # spaced out
        lambda c: c.lower(),
        lambda c: c[::-1],  # reversed
        lambda c: f"`{c[:10]}`**{c[10:]}**",  # split by Markdown
    ],
)
def test_a_disguised_canary_is_caught(disguise: object) -> None:
    guard = make_guard()
    text = "The code is " + disguise(prompts.canary()) + " ok"  # type: ignore[operator]
    received = stream(guard, [text[i : i + 3] for i in range(0, len(text), 3)])
    assert guard.tripped is not None
    assert received == ""  # the leak came before the hold-back window filled


def test_twelve_words_verbatim_from_the_platform_policy_trip_the_guard() -> None:
    words = prompts.platform_text().split()
    quote = " ".join(words[40:52])
    guard = make_guard()
    received = stream(guard, ["As I was told: ", quote.upper(), "  and more."])
    assert guard.tripped is not None
    assert "verbatim" in guard.tripped.reason
    assert received == ""
    assert guard.final_text() == SAFE_REPLY


def test_a_short_overlap_with_the_instructions_is_not_a_leak() -> None:
    words = prompts.platform_text().split()
    guard = make_guard()
    stream(guard, ["Happy to help. ", " ".join(words[40:48]), " is something I do."])
    assert guard.tripped is None


@pytest.mark.django_db
def test_quoting_the_store_refund_rules_is_not_a_leak_but_quoting_the_framing_is() -> None:
    from apps.assistant.models import OperatorPolicy

    policy = OperatorPolicy.objects.create(version=1)
    instructions = prompts.instruction_texts()
    guard = OutputGuard(canary=prompts.canary(), instructions=instructions, allowed_domains=[])
    stream(guard, [f"Our refund rules: {policy.refund_rules}"])
    assert guard.tripped is None

    framing = "They work inside the platform policy above and cannot lift any of its rules"
    guard = OutputGuard(canary=prompts.canary(), instructions=instructions, allowed_domains=[])
    stream(guard, [framing])
    assert guard.tripped is not None


def test_after_a_trip_nothing_more_is_released() -> None:
    guard = make_guard()
    guard.feed("x " * 100 + prompts.canary())
    assert guard.feed("more harmless text " * 20) == ""
    assert guard.finish() == ""
    assert guard.final_text() == SAFE_REPLY
    assert len([v for v in guard.verdicts if v.tripwire]) == 1


# --- links and images -------------------------------------------------------------


def test_a_markdown_image_split_at_every_position_is_dropped() -> None:
    reply = "Here you go ![status](https://shop.example.com/p.png?d=secret) thanks for waiting."
    for pieces in splits(reply):
        guard = make_guard()
        received = stream(guard, pieces)
        assert "![" not in received and "p.png" not in received
        assert received == "Here you go  thanks for waiting."
        assert [v.categories for v in guard.verdicts] == [["image"]]


def test_an_outside_link_split_at_every_position_is_removed() -> None:
    reply = "Track it [here](https://evil.test/c?q=addr) or at https://evil.test/x. Bye"
    for pieces in splits(reply):
        guard = make_guard()
        received = stream(guard, pieces)
        assert "evil.test" not in received
        assert received == f"Track it here {LINK_REMOVED} or at {LINK_REMOVED}. Bye"
        assert [v.categories for v in guard.verdicts] == [["external_link"], ["external_link"]]


@pytest.mark.parametrize(
    "link",
    [
        "[returns](/help/returns/)",
        "https://shop.example.com/orders/W2378156",
        "[order](https://www.shop.example.com/orders)",
        "<https://shop.example.com/help/>",
    ],
)
def test_links_to_the_store_and_the_help_center_survive(link: str) -> None:
    guard = make_guard()
    assert stream(guard, ["See ", link, " for details."]) == f"See {link} for details."
    assert guard.verdicts == []


@pytest.mark.parametrize(
    "link",
    [
        "https://shop.example.com@evil.test/x",  # user-info trick
        "https://shop.example.com.evil.test/x",  # look-alike suffix
        "[admin](/admin/)",  # a relative link outside /help/
        "[x](//evil.test/y)",  # protocol-relative
        "[x](javascript:alert(1))",
        "data:image/png;base64,AAAA",
        "<img src=https://evil.test/a.png>",
    ],
)
def test_look_alike_and_unsafe_links_do_not_survive(link: str) -> None:
    guard = make_guard()
    received = stream(guard, [f"Look: {link} ok"])
    assert "evil.test" not in received and "/admin/" not in received
    assert "javascript" not in received and "base64" not in received
    assert guard.verdicts


def test_the_store_domains_come_from_settings_by_default(settings: object) -> None:
    settings.SUPPORTBOT_STORE_DOMAINS = ["sierra.example"]  # type: ignore[attr-defined]
    guard = OutputGuard(canary=prompts.canary(), instructions=[])
    assert stream(guard, ["https://sierra.example/a and https://other.example/b"]) == (
        f"https://sierra.example/a and {LINK_REMOVED}"
    )


def test_final_text_is_exactly_what_was_released() -> None:
    reply = "A [link](https://evil.test) and ![i](x.png) and text. " * 5
    guard = make_guard()
    received = stream(guard, [reply[i : i + 5] for i in range(0, len(reply), 5)])
    assert guard.final_text() == received.strip()
