"""Quality reviews: every closed conversation scored against the operator's rubric.

Three ways to the same typed review: the model on demand for one conversation
(`model.py`: structured output, strict json_schema), the model through the nightly Batch
API (`batch.py`, half the price), or a rule-based reviewer (`rules.py`) reading the audit
(`audit.py`: tool errors, refused actions, hand-offs, CSAT, unanswered questions) that
says which criteria it could not judge. Each criterion of the rubric (`rubric.py`) gets a
score from 1 to 5 (empty: not judged), a one-line reason and the message (seq) it points
at. `reviews.py` runs and stores a review; below are the names the rest of the app uses.
"""

from __future__ import annotations

from .audit import audit_of
from .batch import do_poll_review_batches, do_submit_review_batch, waiting_for_review
from .reviews import batch_mode, do_judge_criterion, do_review_conversation
from .rubric import active_rubric, ensure_rubric

__all__ = [
    "active_rubric",
    "audit_of",
    "batch_mode",
    "do_judge_criterion",
    "do_poll_review_batches",
    "do_review_conversation",
    "do_submit_review_batch",
    "ensure_rubric",
    "waiting_for_review",
]
