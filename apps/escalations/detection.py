"""Reading the customer's words for escalation: the shared recognisers (a request for a
person, frustration, yes/no, an email; `apps.assistant.recognisers`) and whether a
customer wants to be answered by email.
"""

from __future__ import annotations

import re

from apps.assistant.recognisers import (
    YES,
    asks_for_human,
    email_in,
    frustration_score,
    is_frustrated,
    is_yes,
    without_person_request,
)

__all__ = [
    "asks_for_human",
    "email_in",
    "frustration_score",
    "is_frustrated",
    "is_yes",
    "wants_email",
    "without_person_request",
]

_WANTS_EMAIL = re.compile(
    r"(?i)\b(?:e-?mail|write\s+to\s+me|contact\s+me|reach\s+me|get\s+back\s+to\s+me)\b"
)


def wants_email(text: str) -> bool:
    return bool(email_in(text) or _WANTS_EMAIL.search(text) or YES.match(text))
