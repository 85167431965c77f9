"""The help-center tool the model (and the local assistant) may call."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from apps.assistant.tools import Citation, ToolContext, ToolResult, tool

from .search import Hit, IndexedPassage, current_index
from .services import do_search_help_center

EXCERPT_CHARS = 700
# An article's introduction that matches best is an overview: its sections say the rest.
OVERVIEW_SECTIONS = 3
# A lower-ranked article is offered too when it is nearly as good as the best one.
RELATIVE_SCORE = 0.6

NOT_COVERED_NOTE = (
    "The help center has no article that answers this. Tell the customer plainly that the "
    "help center doesn't cover it, do not guess or invent a policy, and offer to connect "
    "them with a person."
)
COVERED_NOTE = (
    "Answer only from these passages, briefly and in the customer's own terms, and cite the "
    "article title with the url of the passage you used (it links to that section). If they "
    "don't actually answer the question, say the help center doesn't cover it."
)


MAX_QUERY_CHARS = 300


def _query(value: str) -> str:
    # Checked here, not with minLength/maxLength: OpenAI's strict mode refuses those.
    value = " ".join(value.split())
    if not value:
        raise ValueError("the query is empty; give the customer's question in a few words")
    return value[:MAX_QUERY_CHARS]


class SearchHelpCenterArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, AfterValidator(_query)] = Field(
        description="The customer's question in a few English words (the articles are "
        "in English, whatever language the customer writes in), e.g. "
        "'how long do refunds take'. Up to 300 characters.",
    )


def _excerpt(text: str) -> str:
    if len(text) <= EXCERPT_CHARS:
        return text
    cut = text[:EXCERPT_CHARS].rsplit(" ", 1)[0]
    return cut + "…"


def section_url(passage: IndexedPassage) -> str:
    if passage.heading and passage.anchor:
        return f"{passage.url}#{passage.anchor}"
    return passage.url


def relevant_hits(hits: list[Hit]) -> list[Hit]:
    """The hits worth showing: the best one, and any others nearly as good."""
    if not hits:
        return []
    best = hits[0].score
    return [
        hit for hit in hits if hit is hits[0] or (hit.score >= RELATIVE_SCORE * best and hit.good)
    ]


@tool(access="public", status=lambda args: "Searching the help center…")
def search_help_center(ctx: ToolContext, args: SearchHelpCenterArgs) -> ToolResult:
    """Search the store's help center (shipping, tracking, order statuses, cancelling,
    changing items/address/payment, returns, exchanges, refunds, gift cards, payment
    methods, account verification, privacy, warranty, product care, contacting a person).
    Use it for any store-policy or how-to question and answer only from the passages it
    returns, citing the article. If it says the question is not covered, say so and offer
    a person; never invent policy."""
    result = do_search_help_center(args.query)
    if not result.covered:
        return ToolResult(
            data={"query": args.query, "covered": False, "passages": [], "note": NOT_COVERED_NOTE}
        )
    hits = relevant_hits(result.hits)
    shown = [hit.passage for hit in hits]
    index = current_index()
    top = hits[0].passage
    if not top.heading:
        # The introduction matched best ("what are the shipping options?"): it only
        # announces what the sections say, so the first sections come with it.
        extra = [p for p in index.sections_in_order(top.article_id) if p.heading]
        shown[1:1] = [p for p in extra[:OVERVIEW_SECTIONS] if p not in shown]
    else:
        # The best article's other well-matching section too: the figures the
        # customer wants often sit in a neighbouring section.
        for section in index.sections_of(top.article_id, args.query):
            if section not in shown:
                shown.insert(1, section)
                break
    passages: list[dict[str, Any]] = [
        {
            "article_id": passage.article_id,
            "title": passage.title,
            # The section's own link, so an answer can point at the part it quotes.
            "url": section_url(passage),
            "heading": passage.heading,
            "text": _excerpt(passage.text),
        }
        for passage in shown
    ]
    citations = [
        Citation(article_id=hit.passage.article_id, title=hit.passage.title, url=hit.passage.url)
        for hit in hits
    ]
    return ToolResult(
        data={"query": args.query, "covered": True, "passages": passages, "note": COVERED_NOTE},
        citations=citations,
    )
