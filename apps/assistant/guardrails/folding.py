"""How the guardrails read text: compatibility forms, zero-width characters and
look-alike letters folded, and cheap de-obfuscations (leetspeak, spaced letters,
ROT13, reversal, base64/hex blobs) for the input screen."""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

_ZERO_WIDTH = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad]")
_HOMOGLYPHS = str.maketrans(
    "аеорсхуіјԁԛѕԝһкмтвп" + "ΑΒΕΗΙΚΜΝΟΡΤΥΧαοιν",
    "aeopcxyijdqswhkmtbn" + "abehikmnoptyxaoiv",
)
_LEET = str.maketrans("013457@$!|", "oieastasii")
_SPACED = re.compile(r"\b(?:[a-z][ .\-_*+]){3,}[a-z]\b")
_BASE64_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX_BLOB = re.compile(r"(?i)(?<![0-9a-f])(?:[0-9a-f]{2}[ :]?){12,}(?![0-9a-f])")


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _ZERO_WIDTH.sub("", text)
    text = text.translate(_HOMOGLYPHS)
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    text = text.replace("\u201c", '"').replace("\u201d", '"')
    return text


def _flat(text: str) -> str:
    """Lower case, one space between words; line structure dropped."""
    return re.sub(r"\s+", " ", text.lower()).strip()


def fold(text: str) -> str:
    """The screen's reading of a text: compatibility forms, zero-width characters and
    look-alike letters (in either case) folded, lower case, one space between words.
    Code that compares what a customer typed with another value reads both through this."""
    return _flat(_normalise(text).lower().translate(_HOMOGLYPHS))


def _variants(flat: str) -> list[str]:
    """Cheap de-obfuscations of the flattened text, screened like the text itself."""
    variants: list[str] = []
    deleet = flat.translate(_LEET)
    if deleet != flat:
        variants.append(deleet)
    joined = _SPACED.sub(lambda m: re.sub(r"[ .\-_*+]", "", m.group(0)), flat)
    if joined != flat:
        variants.append(joined)
    variants.append(codecs.decode(flat, "rot13"))
    variants.append(flat[::-1])
    return variants


def _printable_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    good = sum(1 for byte in data if 32 <= byte < 127 or byte in (9, 10, 13))
    return good / len(data)


def _decoded_blobs(text: str) -> list[str]:
    """Text hidden in base64 or hex blobs, when it decodes to readable text."""
    found: list[str] = []
    for match in _BASE64_BLOB.finditer(text):
        blob = match.group(0)
        # Plain words, ids and numbers are not encodings worth decoding.
        if blob.isdigit() or (blob.isalpha() and (blob.islower() or blob.isupper())):
            continue
        padded = blob + "=" * (-len(blob) % 4)
        try:
            data = base64.b64decode(padded, validate=False)
        except (binascii.Error, ValueError):
            continue
        if len(data) >= 12 and _printable_ratio(data) > 0.9:
            found.append(data.decode("ascii", errors="ignore"))
    for match in _HEX_BLOB.finditer(text):
        compact = re.sub(r"[ :]", "", match.group(0))
        if len(compact) % 2 or compact.isdigit():
            continue
        try:
            data = bytes.fromhex(compact)
        except ValueError:
            continue
        if len(data) >= 12 and _printable_ratio(data) > 0.9:
            found.append(data.decode("ascii", errors="ignore"))
    return found
