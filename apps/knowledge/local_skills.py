"""Help-center skills of the local assistant.

A policy or how-to question (not about one specific order, not a greeting, not
a request for a person) becomes a `search_help_center` call with the customer's
own words; when the result comes back, the answer quotes the best passage
briefly and names its source. When the help center doesn't cover the question
the answer says so plainly and offers a person, and never guesses.

Priorities: order skills (50-70) come first, so "cancel my order #W..." goes to
them; these sit at 30-40, above the greetings (10) and the fallback.
"""

from __future__ import annotations

import re
from typing import Any

from apps.assistant.local.skills import _GREETING, _THANKS, LocalReply, LocalState, skill
from apps.assistant.recognisers import EMAIL, ORDER_ID, ZIP, asks_for_human

from .search import analyze

TOOL = "search_help_center"
MAX_QUOTE_CHARS = 360

# Requests to act on the customer's own order, rather than questions about how things work.
_OWN_ORDER_REQUEST = re.compile(
    r"""(?ix)
    \b(?:cancel|return|exchange|modify|change|track|check|update|refund|swap)\b
    .*\bmy\s+(?:order|package|parcel|purchase|shipment)\b
    | \bwhere(?:'s|\s+is)\s+my\s+(?:order|package|parcel|shipment|refund|stuff)\b
    | \bstatus\s+of\s+my\s+order\b
    """
)
_HOW_TO = re.compile(
    r"(?i)^\s*(?:how|what|when|why|which|is|are|does|do|can\s+(?:i|you|we)|could|will|"
    r"would|should|if|any)\b"
)
_SHORT_REPLIES = frozenset(
    {"yes", "no", "yeah", "yep", "nope", "sure", "ok", "okay", "fine", "great", "cool"}
    | {"nah", "correct", "right", "please"}
)
_ASKED_FOR_DETAILS = re.compile(
    r"(?i)\b(email|zip|postal code|first name|last name|order (?:number|id)|which order|"
    r"which item|reason)\b"
)


def is_help_question(state: LocalState) -> bool:
    """Whether the latest customer message is a policy or how-to question."""
    text = state.user_text.strip()
    if not text or _GREETING.match(text) or _THANKS.match(text):
        return False
    if ORDER_ID.search(text) or EMAIL.search(text) or asks_for_human(text):
        return False
    if _OWN_ORDER_REQUEST.search(text) and not _HOW_TO.search(text):
        return False
    words = re.findall(r"[a-z']+", text.lower())
    if all(word in _SHORT_REPLIES for word in words):
        return False
    # A short reply to a question we just asked ("john smith 12345") is not a question.
    last_asked = state.assistant_texts[-1] if state.assistant_texts else ""
    if (
        _ASKED_FOR_DETAILS.search(last_asked)
        and not text.endswith("?")
        and not _HOW_TO.search(text)
        and (len(words) <= 6 or ZIP.search(text))
    ):
        return False
    return bool(analyze(text))


@skill(priority=30)
def help_center_question(state: LocalState) -> LocalReply | None:
    if state.tool_outputs or not state.can_call(TOOL) or not is_help_question(state):
        return None
    return LocalReply.call(TOOL, query=" ".join(state.user_text.split())[:300])


@skill(priority=40)
def help_center_answer(state: LocalState) -> LocalReply | None:
    output = state.last_output()
    if output is None or output.name != TOOL:
        return None
    return LocalReply(text=answer_text(output.data, state.user_text))


def answer_text(data: Any, question: str) -> str:
    if not isinstance(data, dict) or data.get("error"):
        return (
            "I couldn't search our help center just now. Would you like me to connect you "
            "with a person from our team?"
        )
    passages = [p for p in data.get("passages") or [] if isinstance(p, dict)]
    if not data.get("covered") or not passages:
        return (
            "I'm sorry, our help center doesn't cover that, and I'd rather not guess. "
            "Would you like me to connect you with a person from our team who can help?"
        )
    best = _best_passage_of_top_article(passages, question)
    same_article = [p for p in passages if p.get("article_id") == best.get("article_id")]
    sections = [p for p in same_article if p.get("heading") and p is not best]
    if not best.get("heading") and sections:
        # The introduction answered best: it is an overview, so quote what each of the
        # sections after it says, in the article's order.
        quote = overview_quote(sections, question)
    else:
        quote = quote_sentences(str(best.get("text", "")), question)
    title = str(best.get("title", "our help center"))
    url = str(best.get("url", ""))  # the section's link when it has a heading
    # A link, so the page shows the source once, in the answer (no second chip for it).
    source = f"Source: [{title}]({url})" if url else f"Source: {title}"
    return f'Here\'s what our help center says: "{quote}"\n\n{source}'


def _best_passage_of_top_article(passages: list[dict[str, Any]], question: str) -> dict[str, Any]:
    """Of the top article's passages, the one with the sentence closest to the question
    (an article's introduction often ranks first but answers least)."""
    top_article = passages[0].get("article_id")

    def closeness(rank_and_passage: tuple[int, dict[str, Any]]) -> tuple[int, int]:
        rank, passage = rank_and_passage
        sentences = _SENTENCE_END.split(str(passage.get("text", "")))
        best = max((sentence_score(question, s) for s in sentences), default=0)
        return best, -rank

    same_article = [(r, p) for r, p in enumerate(passages) if p.get("article_id") == top_article]
    return max(same_article, key=closeness)[1]


MAX_OVERVIEW_CHARS = 600


def overview_quote(sections: list[dict[str, Any]], question: str) -> str:
    """A sentence or two from each section, within one budget."""
    per_section = max(120, MAX_OVERVIEW_CHARS // max(len(sections), 1))
    parts: list[str] = []
    used = 0
    for section in sections:
        text = quote_sentences(str(section.get("text", "")), question, limit=2)
        if len(text) > per_section:
            text = text[:per_section].rsplit(" ", 1)[0] + "…"
        if used + len(text) > MAX_OVERVIEW_CHARS:
            break
        parts.append(text)
        used += len(text) + 1
    return " ".join(parts)


_WANTS_FIGURE = re.compile(
    r"(?i)\b(how (long|much|many|soon|fast)|when|what time|cost|price|fee|charge|days?)\b"
)
_HAS_FIGURE = re.compile(r"\d|\$")


def sentence_score(question: str, sentence: str) -> int:
    """Shared words, plus a bonus when a how-long/how-much question meets a figure."""
    score = len(set(analyze(question)) & set(analyze(sentence)))
    if _WANTS_FIGURE.search(question) and _HAS_FIGURE.search(sentence):
        score += 3
    return score


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def quote_sentences(text: str, question: str, limit: int = 3) -> str:
    """The one to three sentences of a passage that best answer the question, in order."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    if not sentences:
        return text[:MAX_QUOTE_CHARS]
    scores = [sentence_score(question, sentence) for sentence in sentences]
    best = max(range(len(sentences)), key=lambda i: (scores[i], -i))
    chosen = [best]
    # A section's first sentence usually states its point; keep it when it fits.
    if best != 0 and len(sentences[0]) + len(sentences[best]) + 1 <= MAX_QUOTE_CHARS:
        chosen = [0, best]
    # Add the neighbours that also speak to the question (or the next one for context).
    for index in (best + 1, best - 1, best + 2):
        if len(chosen) >= limit or index in chosen or not 0 <= index < len(sentences):
            continue
        if scores[index] or (index == best + 1 and len(sentences[best]) < 120):
            candidate = sorted([*chosen, index])
            if sum(len(sentences[i]) + 1 for i in candidate) <= MAX_QUOTE_CHARS:
                chosen = candidate
    quote = " ".join(sentences[i] for i in sorted(chosen))
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0] + "…"
    return quote
