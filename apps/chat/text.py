"""Text from outside (customers, agents, forms) made safe to store and show.

PostgreSQL refuses NUL in text and JSON, a lone surrogate cannot be encoded as
UTF-8, and other control characters only ever corrupt transcripts, exports and
logs. Every entry point passes outside text through `clean_text` before storing it.
The customer socket refuses a lone surrogate outright (`has_lone_surrogate`, checked
when a frame is read) rather than storing a replacement character.
"""

from __future__ import annotations

import re

# C0 controls and DEL, except tab, line feed and carriage return.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """`text` without NUL and other control characters; lone surrogates become U+FFFD."""
    return _CONTROL.sub("", _SURROGATE.sub("\ufffd", text))


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds a surrogate code point, which no UTF-8 text can carry."""
    return _SURROGATE.search(text) is not None
