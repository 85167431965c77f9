"""Knowledge gaps: questions the assistant could not answer, grouped (`questions.py`) and
turned into help-center article drafts, new articles or edits, citing the conversations
they came from (`drafts.py`); approving a draft publishes it and makes it searchable at
once. `conflicts.py` finds published sections that duplicate or contradict each other.
Below are the names the rest of the app uses.
"""

from __future__ import annotations

from .conflicts import find_conflicts
from .drafts import (
    PLACEHOLDER,
    DraftError,
    do_approve_draft,
    do_find_gaps,
    do_reject_draft,
    gap_status,
)
from .questions import LOOKBACK_DAYS

__all__ = [
    "LOOKBACK_DAYS",
    "PLACEHOLDER",
    "DraftError",
    "do_approve_draft",
    "do_find_gaps",
    "do_reject_draft",
    "find_conflicts",
    "gap_status",
]
