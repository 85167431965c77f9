"""The input screen: a fast local screen for likely injection and jailbreak attempts."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .features import (
    ENCODED_PAYLOAD,
    FEATURES,
    FRAGMENTS,
    INSTRUCTION_OVERRIDE,
    PROMPT_EXTRACTION,
    SCREEN_CATEGORIES,
    Feature,
)
from .folding import _SPACED, _decoded_blobs, _flat, _normalise, _variants
from .verdicts import Verdict

# A weighted sum of regex features over a normalised copy of the text. A strong
# feature (weight >= 1) flags on its own; weaker ones need company. Variants of
# the text (leetspeak undone, spaced letters joined, ROT13, reversed, decoded
# base64/hex blobs) are screened too, so trivial obfuscation does not hide a
# phrase. The threshold is 1.0. Nothing here blocks: it only labels.

SCREEN_THRESHOLD = 1.0

_OVERRIDE_VERB = FRAGMENTS["override_verb"]


def _match_features(raw: str, flat: str, variants: Sequence[str], *, tool: bool) -> set[str]:
    hits: set[str] = set()
    for feature in FEATURES:
        if feature.tool_only and not tool:
            continue
        if feature.raw:
            if feature.pattern.search(raw):
                hits.add(feature.name)
            continue
        if feature.pattern.search(flat) or any(feature.pattern.search(v) for v in variants):
            hits.add(feature.name)
    return hits


_CO_OVERRIDE = re.compile(
    rf"\b{_OVERRIDE_VERB}\b|\baside\b|\b(?:cancel+ed|revoked|void|lifted|suspended|no longer "
    r"apply|don'?t apply|do not apply)\b"
)
_CO_EXTRACT = re.compile(
    r"\b(?:reveal|show|print|repeat|display|output|dump|leak|share|tell|give|list|recite|paste|"
    r"copy|write|spell|summari[sz]e|paraphrase|translate|quote|read|send|describe|enumerate|"
    r"expose|disclose|echo|post|what(?:'s| is| are| were| was)?)\b"
)
_CO_INTERNAL = re.compile(
    r"\b(?:instructions|rules|guidelines|prompt|programming|polic(?:y|ies)(?: text)?|setup|"
    r"configuration|config|directives|training|guardrails|safeguards|restrictions|"
    r"(?:creators|developers|operators?|owners|they|the store|the company) told you|"
    r"you were (?:trained|told|given|programmed|instructed))\b"
)
_CO_OWNED = re.compile(
    r"\byour\b|\byou(?:'re| are| were| have been)? (?:trained|told|given|using|programmed|"
    r"instructed|running|following)\b|\b(?:gave|give|given to) you\b|\b(?:hidden|secret|"
    r"confidential|internal|system|private|behind the scenes|operating)\b"
)
# "the rules for returns" is a customer's question, not a target.
_CO_TOPICAL = re.compile(
    r"\b(?:rules|instructions|polic(?:y|ies)|guidelines|setup|restrictions)\s+(?:for|on|about|"
    r"regarding|to|around|of|with|that came)\s+(?!(?:me|us|this chat|the chat|the bot|the ai)\b)"
    r"(?:the |my |a |an |your )?\w+"
)


# Words that, right before "rules" or "policy", make it the assistant's own (its system
# rules, its hidden guidelines) rather than a subject the store has rules about.
_CO_META_MODIFIER = (
    r"(?:system|hidden|secret|internal|initial|original|previous|prior|earlier|above|full|"
    r"exact|entire|complete|whole|real|actual|true|core|base|default|current|operating|private|"
    r"confidential|safety|content|developer|operator|ai|bot|assistant|chatbot|model|underlying|"
    r"own|special|specific|first|last|verbatim|raw|every|all|any|these|those|new|old|other|"
    r"prompt|response|behaviou?r|conversation|chat|moderation|refusal|filtering|setup|"
    r"configuration|config|"
    r"programming|training|jailbreak|admin|root|master|override|backend|back-end|behind)"
)
# A policy with no subject ("what's your policy?") is the store's too; only a policy
# marked as the assistant's own is a target for extraction.
_CO_BARE_POLICY = re.compile(
    rf"\b(?:(?!{_CO_META_MODIFIER}\b)[a-z'-]+\s+|^)polic(?:y|ies)\b(?! text)"
)
# "your return policy", "the sizing guidelines", "your shipping rules": a rule noun with a
# subject in front is the store's rule about that subject, which customers ask about.
_CO_SUBJECT_RULES = re.compile(
    r"\b(?:your|the|our|its|this|that|a|an|store'?s?|shop'?s?|company'?s?)\s+"
    r"(?:[a-z'-]+\s+)?"
    rf"(?!{_CO_META_MODIFIER}\b)[a-z][a-z'-]*\s+"
    r"(?:polic(?:y|ies)|rules|guidelines|restrictions|instructions|requirements|terms|"
    r"procedures?|conditions)\b"
)


def _cooccurrence(flat: str) -> set[str]:
    """Lexicon hits within one sentence: looser than phrases, so rewordings still count.
    Setting aside a store's policy ("ignore the refund policy") is an override; asking
    what a policy says ("what is your return policy?") is an ordinary question, so the
    extraction hit only counts rules that are not about a subject."""
    hits: set[str] = set()
    for sentence in re.split(r"[.!?;\n]+|, (?:and|but|so) ", flat):
        sentence = _CO_TOPICAL.sub(" ", sentence)
        if not _CO_INTERNAL.search(sentence):
            continue
        owned = bool(_CO_OWNED.search(sentence))
        if _CO_OVERRIDE.search(sentence):
            hits.add("override_cooccur_owned" if owned else "override_cooccur")
        asked = _CO_SUBJECT_RULES.sub(" ", sentence)
        if (
            _CO_INTERNAL.search(_CO_BARE_POLICY.sub(" ", asked))
            and _CO_OWNED.search(asked)
            and _CO_EXTRACT.search(asked)
        ):
            hits.add("extract_cooccur")
    return hits


_CO_FEATURES = (
    Feature("override_cooccur", INSTRUCTION_OVERRIDE, 0.7, _CO_OVERRIDE),
    Feature("override_cooccur_owned", INSTRUCTION_OVERRIDE, 1.1, _CO_OVERRIDE),
    Feature("extract_cooccur", PROMPT_EXTRACTION, 1.0, _CO_EXTRACT),
)

_SPACED_OUT_PHRASE = re.compile(
    r"(?:ignore|disregard|forget|override|bypass)(?:all|the|your|any|my)?(?:previous|prior|above|"
    r"earlier|system)?(?:instructions|directives|rules|prompt|guidelines)|systemprompt|"
    r"developermode|doanythingnow|jailbr|reveal(?:your|the)?(?:system)?(?:prompt|instructions)"
)
_SPACED_FEATURE = Feature(
    "spaced_out_phrase", INSTRUCTION_OVERRIDE, 1.2, _SPACED_OUT_PHRASE, raw=False, tool_only=False
)
_BY_NAME = {feature.name: feature for feature in (*FEATURES, *_CO_FEATURES, _SPACED_FEATURE)}


def screen_input(text: str, *, source: str = "customer") -> Verdict:
    """A fast local screen for likely injection and jailbreak attempts.

    `source` is "customer" for chat messages; anything else (e.g. "tool:get_order")
    marks tool output such as addresses, order notes or product texts, where
    text addressed to the assistant is suspicious in itself.
    """
    tool = source != "customer"
    raw = _normalise(text)
    flat = _flat(raw)
    hits = _match_features(raw, flat, _variants(flat), tool=tool)
    hits |= _cooccurrence(flat)
    # Letters spelled out one by one ("i g n o r e ...") lose their word breaks.
    for run in _SPACED.finditer(flat):
        if _SPACED_OUT_PHRASE.search(re.sub(r"[^a-z]", "", run.group(0))):
            hits.add(_SPACED_FEATURE.name)
    weights: dict[str, float] = {name: _BY_NAME[name].weight for name in hits}

    # Encoded blobs: suspicious in themselves, and what they hide is screened too.
    blobs = _decoded_blobs(raw)
    if blobs:
        weights["encoded_blob"] = 0.6
        inner = [screen_input(blob, source=source) for blob in blobs[:4]]
        hidden = max(inner, key=lambda verdict: verdict.score)
        if hidden.score > 0:
            weights["encoded_attack"] = 0.6 + hidden.score

    score = round(sum(weights.values()), 2)
    by_category: dict[str, float] = {}
    for name, weight in weights.items():
        category = ENCODED_PAYLOAD if name.startswith("encoded") else _BY_NAME[name].category
        by_category[category] = by_category.get(category, 0.0) + weight
    tripwire = score >= SCREEN_THRESHOLD
    # Name the categories that carry the verdict; weak hints alone don't.
    categories = (
        [name for name in SCREEN_CATEGORIES if by_category.get(name, 0.0) >= 0.5]
        if tripwire
        else []
    )
    if tripwire and not categories:
        categories = [max(by_category, key=lambda name: by_category[name])]
    reason = ""
    if tripwire:
        reason = f"{source} text matched " + ", ".join(sorted(weights))
    return Verdict(
        check="input_screen",
        tripwire=tripwire,
        reason=reason,
        categories=categories,
        score=score,
    )
