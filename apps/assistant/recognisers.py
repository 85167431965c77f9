"""One recogniser each for what the customer types: an email address, a zip code, an
order id, a request for a person, frustration and a yes.

Plain rules, so they behave the same with or without a model. The offline
assistant, escalation detection, the provenance check and the order tools all read
the customer's words through these, so "an email" means the same thing everywhere.
"""

from __future__ import annotations

import re

# An email address as customers type it; the local part and the domain may hold any
# letters, so the whole address is one token (no match starting or ending mid-word).
EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?![\w-])")
# A US zip code standing alone (not part of a longer number or of "#W1234567"); group 1
# is the five digits, with or without the +4 part.
ZIP = re.compile(r"(?<![\w#])([0-9]{5})(?:-[0-9]{4})?(?!\w)")
# An order id as customers type it ("#W1234567", "w1234567"); group 1 is "W" and digits.
ORDER_ID = re.compile(r"#?\b(W\d{5,12})\b", re.IGNORECASE)


def order_ids_in(text: str) -> list[str]:
    """Every order id in the text, as the store writes them ("#W1234567")."""
    return [f"#{found.upper()}" for found in ORDER_ID.findall(text)]


def as_order_id(value: str) -> str | None:
    """The value, when it is an order id and nothing else, as the store writes it; the
    "#" and the "W" may be missing (a model sometimes drops them)."""
    bare = value.strip().removeprefix("#")
    if bare[:1] not in ("W", "w"):
        bare = f"W{bare}"
    return f"#{bare.upper()}" if ORDER_ID.fullmatch(bare) else None


def email_in(text: str) -> str | None:
    """The first email address in the text, if any."""
    match = EMAIL.search(text)
    return match.group(0) if match else None


_PERSON = (
    r"(?:human(?:\s+being)?|(?:real|live|actual)\s+(?:person|human|agent|people)|person|"
    r"agent|representative|rep|operator|someone|somebody|anyone|anybody|people|"
    r"(?:a\s+)?member\s+of\s+(?:your\s+|the\s+)?staff|staff|supervisor|manager|"
    r"customer\s+(?:service|support|care)|support\s+(?:team|staff|agent)|"
    r"(?:a\s+)?(?:real|live)\s+(?:one|chat))"
)
_REACH = r"(?:talk|speak|chat|communicate|get\s+through)"
# A question about when people work ("can I talk to someone on Sunday?") is not a request.
_WHEN_QUESTION = re.compile(
    r"(?i)\b(?:on\s+(?:the\s+|a\s+)?(?:weekends?|sundays?|saturdays?|holidays?)|"
    r"what\s+(?:time|hours)|"
    r"which\s+hours|opening\s+hours|business\s+hours|at\s+night|when\s+(?:can|is|are|do))\b"
)
_ASKS_FOR_PERSON = re.compile(
    rf"""(?ix)
      \b{_REACH}\s+(?:to|with)\s+(?:a\s+|an\s+|some\s+|your\s+|the\s+)?{_PERSON}\b
    | \b(?:connect|transfer|put|pass|escalate|forward|hand)\s+(?:me|this|it|my\s+\w+)?\s*
        (?:(?:through|over|on)\s+)?(?:to|with)\s+(?:a\s+|an\s+|some\s+|your\s+|the\s+)?{_PERSON}\b
    | \b(?:get|give|find|bring|fetch)\s+me\s+(?:a\s+|an\s+|some\s+|the\s+)?{_PERSON}\b
    | \b(?:want|need|like|request|prefer|demand)\s+(?:to\s+(?:have|get)\s+)?
        (?:a\s+|an\s+|some\s+|the\s+)?(?:human|real\s+person|live\s+(?:agent|person)|
        person|agent|representative|operator|supervisor|manager)\b
    | \bescalate\b
    | \b(?:is|are)\s+there\s+(?:a\s+|an\s+|any\s+)?(?:real\s+|live\s+|actual\s+)?
        (?:human|person|people|agent|one)\b.*\b(?:talk|speak|chat)\b
    | ^\s*(?:a\s+|an\s+)?(?:human|person|agent|representative|operator|real\s+person|
        live\s+agent|customer\s+service)(?:\s+please)?[\s.!]*$
    | \b(?:are\s+you|is\s+this)\s+(?:a\s+)?(?:bot|robot|machine)\b.*\b(?:human|person)\b
    | \bnot\s+(?:a\s+)?(?:bot|robot|machine)\b
    | \b(?:stupid|useless|dumb|pointless|worthless|terrible|broken)\s+
        (?:bot|robot|machine|ai|chatbot)\b
    | \b(?:this|the|you|your)\s+(?:bot|robot|chatbot|ai|assistant|machine|thing)\s+
        (?:is|are)\s+(?:\w+\s+)?(?:useless|stupid|dumb|pointless|worthless|not\s+helping|
        no\s+help|rubbish|garbage)\b
    | \bstop\s+(?:the\s+)?(?:bot|robot|machine|ai)\b
    | \b(?:no|not)\s+(?:more\s+)?(?:bots?|robots?|machines?|ai)\b.*\b(?:human|person|please)\b
    """
)


def without_person_request(text: str) -> str:
    """The text with its request for a person taken out ("get me a human, my refund is
    late" -> "my refund is late")."""
    return _ASKS_FOR_PERSON.sub(" ", text).strip(" ,.;:!?-")


def asks_for_human(text: str) -> bool:
    """Whether the customer is asking to be put through to a person."""
    if not text.strip():
        return False
    if _WHEN_QUESTION.search(text) and not re.search(r"(?i)\b(now|right away|asap)\b", text):
        return False
    return bool(_ASKS_FOR_PERSON.search(text))


# Weighted signals of frustration. Strong words count 2, a plain complaint 1.
_STRONG = re.compile(
    r"""(?ix)\b(?:
        useless|ridiculous|pathetic|unacceptable|outrageous|disgusting|horrible|awful|
        terrible|worst|garbage|rubbish|joke|scam|furious|livid|fed\s+up|sick\s+(?:and\s+tired\s+)?of|
        waste\s+of\s+(?:my\s+)?time|wtf|fuck\w*|shit\w*|damn|hopeless|incompetent|
        never\s+(?:again|shopping|buy)|i(?:'m|\s+am)\s+(?:so\s+)?(?:angry|mad|done)
    )\b"""
)
_COMPLAINT = re.compile(
    r"""(?ix)\b(?:
        still\s+(?:not|no|haven't|hasn't|waiting|nothing)|not\s+(?:helpful|helping|working)|
        doesn't\s+(?:help|work)|didn't\s+(?:help|work|answer)|already\s+(?:told|said|asked|gave)|
        (?:you're|you\s+are)\s+not\s+(?:listening|understanding)|(?:that's|that\s+is)\s+not\s+what\s+i|
        again\?|frustrat\w*|annoy\w*|upset|disappoint\w*|unhappy|complain\w*|
        how\s+many\s+times|no\s+one\s+(?:helps|answers)|nobody\s+(?:helps|answers)|
        can't\s+believe|come\s+on|seriously\?
    )"""
)


def frustration_score(text: str) -> int:
    """0 for a calm message; 1 for a complaint; 2 or more for strong negative wording."""
    score = 2 * len(_STRONG.findall(text)) + len(_COMPLAINT.findall(text))
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7:
        score += 1  # shouting
    if "!!" in text or "?!" in text:
        score += 1
    return score


def is_frustrated(recent: list[str]) -> bool:
    """Strong negative wording now, or repeated complaints in the last few messages."""
    if not recent:
        return False
    if frustration_score(recent[-1]) >= 2:
        return True
    complaints = sum(1 for text in recent[-4:] if frustration_score(text) >= 1)
    return complaints >= 2 and frustration_score(recent[-1]) >= 1


YES = re.compile(
    r"""(?ix)^\s*(?:
        y|yes|yeah|yep|yup|ya|sure|ok(?:ay)?|please(?:\s+do)?|do\s+it|go\s+ahead|
        yes\s+please|please\s+yes|absolutely|definitely|of\s+course|that\s+would\s+be\s+great|
        i\s+would|i'd\s+like\s+that|sounds\s+good|why\s+not|connect\s+me|let's\s+do\s+it
    )\b[\s!.,]*(?:please|thanks|thank\s+you)?[\s!.]*$"""
)


def is_yes(text: str) -> bool:
    return bool(YES.match(text)) or asks_for_human(text)
