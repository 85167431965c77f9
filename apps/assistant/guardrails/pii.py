"""PII masking: card numbers, IBANs, CVVs, SSNs and passwords in customer text."""

from __future__ import annotations

import re

# 13-19 digits, optionally grouped by single spaces or dashes; a card starts with 2-6.
_CARD = re.compile(r"(?<![\d#])[2-6](?:[ -]?\d){12,18}(?!\d)")
_CVV = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cid|csc|security code|card code|verification code)\b"
    r"([^\d\n]{0,14})(\d{3,4})(?!\d)"
)
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_SSN_WORDED = re.compile(
    r"(?i)\b(ssn|social security(?: number| no\.?| #)?|social insurance number|sin)\b"
    r"([^\d\n]{0,12})(\d{3}[ -]?\d{2}[ -]?\d{4})(?!\d)"
)
_PASSWORD = re.compile(
    r"(?i)\b(password|passwd|passcode|pass code|pwd|pin(?: code| number)?|login code)\b"
    r"((?:\s+(?:for|to|on|of)\s+(?:my\s+)?[\w.@-]+(?:\s+account)?)?\s*(?:is|was|:|=|-)\s*)"
    r"(\"[^\"\n]{1,64}\"|'[^'\n]{1,64}'|[^\s\"']{1,64})"
)
# Words that follow "my password is ..." in a complaint rather than a secret.
_NOT_A_SECRET = frozenset(
    [
        "not",
        "wrong",
        "incorrect",
        "invalid",
        "broken",
        "expired",
        "locked",
        "working",
        "correct",
        "right",
        "the",
        "a",
        "an",
        "my",
        "too",
        "still",
        "also",
        "no",
        "missing",
        "lost",
        "forgotten",
        "reset",
        "changed",
        "fine",
        "ok",
        "okay",
    ]
)
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30})(?![A-Za-z0-9])")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _iban_ok(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(char, 36)) for char in rearranged)
    return int(numeric) % 97 == 1


def mask_pii(text: str) -> tuple[str, list[str]]:
    """Mask card numbers, CVVs, SSNs, IBANs and passwords.

    Returns the masked text and the kinds found, in order, one entry per kind.
    Card numbers keep their last four digits, which is what an agent needs.
    """
    found: list[str] = []

    def note(kind: str) -> None:
        if kind not in found:
            found.append(kind)

    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        if 13 <= len(digits) <= 19 and _luhn_ok(digits):
            note("card_number")
            return f"[card ending {digits[-4:]}]"
        return match.group(0)

    def iban(match: re.Match[str]) -> str:
        if _iban_ok(match.group(1)):
            note("iban")
            return "[redacted bank account]"
        return match.group(0)

    def cvv(match: re.Match[str]) -> str:
        note("card_security_code")
        return f"{match.group(1)}{match.group(2)}[redacted]"

    def ssn(match: re.Match[str]) -> str:
        note("ssn")
        return "[redacted id number]"

    def ssn_worded(match: re.Match[str]) -> str:
        note("ssn")
        return f"{match.group(1)}{match.group(2)}[redacted id number]"

    def password(match: re.Match[str]) -> str:
        token = match.group(3)
        secret = token.rstrip(".,;!?)")
        if secret.strip("\"'").lower() in _NOT_A_SECRET or not secret:
            return match.group(0)
        note("password")
        return f"{match.group(1)}{match.group(2)}[redacted]{token[len(secret) :]}"

    text = _CARD.sub(card, text)
    text = _IBAN.sub(iban, text)
    text = _CVV.sub(cvv, text)
    text = _SSN_WORDED.sub(ssn_worded, text)
    text = _SSN.sub(ssn, text)
    text = _PASSWORD.sub(password, text)
    return text, found
