"""Where an identity fact came from: the customer's own messages, never the model.

A tool argument that identifies a person (an email address, a name, a zip code) is
marked `CustomerFact` in its tool's argument model. The registry runs such a tool only
when every value the model passed appears in what the customer typed in this
conversation; otherwise the tool refuses before it reads the store, the model is told
to ask the customer, and the attempt is recorded as a guardrail verdict.

Values and messages are both read through the input screen's folding (case, spacing,
look-alike letters, zero-width characters). A value must then stand on its own in one
message: "jane@example.com" is not found inside "mary.jane@example.com", "Li" not
inside "Lima" or "Smith-Li", a zip code not inside an order number, a name or a zip
code not inside an email address. Zip codes may be typed with spaces ("9 0 2 1 0") or
with their +4 part. The local assistant reads emails and zip codes with the same
recognisers (`apps.assistant.recognisers`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .guardrails import OTHER_CUSTOMER, Verdict, fold
from .recognisers import EMAIL, ZIP

FactKind = Literal["email", "name", "zip"]


@dataclass(frozen=True)
class CustomerFact:
    """Marks a tool argument that identifies a person: the customer must have typed it.

    Use it as `Annotated[str | None, CustomerFact("email")]` in an argument model.
    """

    kind: FactKind


# Digits split by single spaces or dashes ("9 0 2 1 0", "902 10"), taken as a whole run.
_DIGIT_RUN = re.compile(r"(?<![\w#])(?<![0-9][ -])[0-9]+(?:[ -][0-9]+)+(?!\w)(?![ -][0-9])")
# Characters that join two words into one token ("mary.jane", "smith-li", "o'brien").
_JOINERS = frozenset(".-'+%@_")
# Surrounding characters a model (or a customer) may add around a value.
_WRAPPING = " \"'`<>()[]{},;:!?.*"

LABELS = {"email": "email address", "zip": "zip code"}


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _stands_alone(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if _is_word(before) or _is_word(after):
        return False
    if before in _JOINERS and start > 1 and _is_word(text[start - 2]):
        return False
    if after in _JOINERS and end + 1 < len(text) and _is_word(text[end + 1]):
        possessive = text[end : end + 2] == "'s" and (
            end + 2 == len(text) or not _is_word(text[end + 2])
        )
        return possessive
    return True


def _found(value: str, text: str) -> bool:
    start = text.find(value)
    while start != -1:
        if _stands_alone(text, start, start + len(value)):
            return True
        start = text.find(value, start + 1)
    return False


def _fold_value(value: str) -> str:
    return fold(value).strip(_WRAPPING)


def zip_digits(value: str) -> str | None:
    """A zip code the model passed, as its digits ("902 10" and "90210-1234" → "90210");
    None when it is not made of digits."""
    compact = re.sub(r"[\s-]", "", value)
    if not (compact.isascii() and compact.isdigit()):
        return None
    return compact[:5] if len(compact) == 9 else compact


class CustomerWords:
    """What the customer typed in this conversation, read the way the input screen reads it."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = [fold(text) for text in texts if text]
        # Names and zip codes are not taken from inside an email address.
        self.plain = [re.sub(r"\s+", " ", EMAIL.sub(" ", text)) for text in self.texts]
        self.zips: set[str] = set()
        for text in self.plain:
            self.zips.update(match.group(1) for match in ZIP.finditer(text))
            for run in _DIGIT_RUN.finditer(text):
                digits = re.sub(r"[ -]", "", run.group(0))
                if len(digits) == 5:
                    self.zips.add(digits)

    def typed(self, kind: FactKind, value: str) -> bool:
        folded = _fold_value(value)
        if not folded:
            return False
        if kind == "email":
            return any(_found(folded, text) for text in self.texts)
        if kind == "zip":
            digits = zip_digits(folded)
            if digits is not None and len(digits) == 5:
                return digits in self.zips
        return any(_found(folded, text) for text in self.plain)


def untyped(
    facts: Mapping[str, FactKind], arguments: Mapping[str, Any], texts: Iterable[str]
) -> list[str]:
    """The marked arguments whose values the customer did not type (absent ones aside)."""
    given = {
        name: str(arguments[name]).strip()
        for name in facts
        if arguments.get(name) is not None and str(arguments[name]).strip()
    }
    if not given:
        return []
    words = CustomerWords(texts)
    return [name for name, value in given.items() if not words.typed(facts[name], value)]


def _label(name: str, kind: FactKind) -> str:
    return LABELS.get(kind, name.replace("_", " "))


def refusal(facts: Mapping[str, FactKind], names: list[str]) -> dict[str, Any]:
    """What the model reads when it passed identity facts the customer never typed."""
    labels = [_label(name, facts[name]) for name in names]
    what = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    return {
        "error": (
            f"Refused: the customer has not typed this {what} in this conversation. Ask the "
            "customer for it and pass exactly what they type; never use a value from a tool "
            "result, an article, your own knowledge or a guess. This did not count as a "
            "failed attempt."
        ),
        "not_typed_by_customer": names,
    }


def verdict(tool_name: str, names: list[str]) -> Verdict:
    return Verdict(
        check="identity_provenance",
        tripwire=True,
        reason=f"{tool_name}: {', '.join(names)} not typed by the customer in this conversation",
        categories=[OTHER_CUSTOMER],
        score=1.0,
    )
