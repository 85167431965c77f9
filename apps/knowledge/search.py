"""Ranked retrieval over help-center passages: a small analyzer and BM25.

The analyzer turns customer wording into index terms: lower case, common
customer synonyms folded to one word ("money back" -> refund), a light suffix
stemmer, and cheap typo tolerance (a query word the index has never seen is
replaced by the closest known word within one or two edits).

The index lives in each process's memory and is rebuilt from the `Passage`
table whenever `IndexState.stamp` in the database has changed, so every Daphne
process sees an article saved through any other one on its next search.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from rank_bm25 import BM25Okapi

# Phrases first (they span words), then single words. Canonical forms are
# ordinary words, so they go through the same stemmer as everything else.
_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(rf"\b(?:{pattern})\b"), canonical)
    for pattern, canonical in [
        (r"money back", "refund"),
        (r"get (?:my )?money", "refund"),
        (r"send (?:it |them |this |something |items? )?back", "return"),
        (r"take (?:it |them )?back", "return"),
        (r"gift[ -]?cards?", "giftcard"),
        (r"e[ -]mail", "email"),
        (r"t[ -]?shirts?|tees?", "tshirt"),
        (r"p\.?\s?o\.? box(?:es)?", "pobox"),
        (r"(?:next|same|one|two)[ -]day", "express"),
        (r"opening hours|open hours|office hours|hours of operation", "business hours"),
        (r"real (?:person|human)|live (?:agent|person)|human being", "person"),
        (r"buy now,? pay later|pay in installments", "buynowpaylater"),
        (r"credit cards?|debit cards?", "card"),
        (r"out of stock|sold out", "outofstock"),
        (r"home address|where i live", "address"),
        (r"do you (?:take|allow)|can i use", "accept"),
        (r"(?:went|gone|goes|go|come|came) down|dropped|got cheaper|is cheaper now", "change"),
        (r"customs (?:fees?|duties|duty)|import (?:fees?|duties|duty|tax)", "customs"),
    ]
]

_SYNONYMS: dict[str, str] = {
    # money
    "reimburse": "refund",
    "reimbursed": "refund",
    "reimbursement": "refund",
    "refunded": "refund",
    "refunds": "refund",
    "chargeback": "refund",
    # cancelling
    "cancellation": "cancel",
    "cancelation": "cancel",
    "canceled": "cancel",
    "cancelled": "cancel",
    "canceling": "cancel",
    "cancelling": "cancel",
    # shipping and delivery
    "shipment": "ship",
    "shipments": "ship",
    "shipping": "ship",
    "shipped": "ship",
    "dispatch": "ship",
    "dispatched": "ship",
    "postage": "ship",
    "delivery": "ship",
    "parcel": "package",
    "parcels": "package",
    "courier": "carrier",
    "ups": "carrier",
    "fedex": "carrier",
    "usps": "carrier",
    "arrive": "arrive",
    "arrived": "arrive",
    "arriving": "arrive",
    # returns and exchanges
    "returning": "return",
    "returned": "return",
    "returns": "return",
    "swap": "exchange",
    "swapping": "exchange",
    "exchanging": "exchange",
    # orders and items
    "modify": "change",
    "modified": "change",
    "modification": "change",
    "edit": "change",
    "alter": "change",
    "update": "change",
    "updated": "change",
    "switch": "change",
    "switching": "change",
    "shirt": "tshirt",
    "shirts": "tshirt",
    "colour": "color",
    "colours": "color",
    "colors": "color",
    "damage": "damaged",
    "broken": "damaged",
    "smashed": "damaged",
    "dented": "damaged",
    "cracked": "damaged",
    "defect": "defective",
    "faulty": "defective",
    "guarantee": "warranty",
    "guaranteed": "warranty",
    # payments
    "pay": "payment",
    "paying": "payment",
    "paid": "payment",
    "payments": "payment",
    "charge": "payment",
    "charged": "payment",
    "billing": "payment",
    "amex": "american",
    "visa": "card",
    "mastercard": "card",
    "discover": "card",
    "bitcoin": "cryptocurrency",
    "crypto": "cryptocurrency",
    "ethereum": "cryptocurrency",
    "cod": "cash",
    "klarna": "buynowpaylater",
    "afterpay": "buynowpaylater",
    "giftcards": "giftcard",
    "voucher": "giftcard",
    "vouchers": "giftcard",
    # account
    "prove": "verify",
    "proof": "verify",
    "authenticate": "verify",
    "verify": "verify",
    "verification": "verify",
    "verified": "verify",
    "identity": "verify",
    "postcode": "zip",
    "zipcode": "zip",
    "postal": "zip",
    "adress": "address",
    "addres": "address",
    "addresses": "address",
    "phishing": "scam",
    "scams": "scam",
    "fraud": "scam",
    "suspicious": "scam",
    "bot": "assistant",
    "chatbot": "assistant",
    "robot": "assistant",
    "ai": "assistant",
    "human": "person",
    "agent": "person",
    "someone": "person",
    "representative": "person",
    "rep": "person",
    "people": "person",
    "staff": "person",
    "info": "information",
    "data": "information",
    "personal": "information",
    "purchase": "order",
    "purchased": "order",
    "bought": "order",
    "buy": "order",
    "fix": "change",
    "correct": "change",
    # assorted customer words
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "size": "size",
    "sizes": "size",
    "sizing": "size",
    "fit": "size",
    "fits": "size",
    "weekend": "weekends",
    "saturday": "weekends",
    "saturdays": "weekends",
    "sunday": "weekends",
    "sundays": "weekends",
    "abroad": "international",
    "overseas": "international",
    "worldwide": "international",
    "canada": "international",
    "mexico": "international",
    "uk": "international",
    "europe": "international",
    "australia": "international",
    "hawaii": "hawaii",
    "alaska": "alaska",
}

_STOPWORDS = frozenset(
    """a about after again all also am an and any are as at be been before being but by can
    could did do does doing for from get got had has have having he her here hers him his
    how i i'm if in into is it it's its just let me might more most my myself no nor of off
    on once only or other our ours out over own please same she should so some such than
    that the their theirs them then there these they this those through to too under until
    up very want was we were what when where which while who whom why will with would you
    your yours yourself hi hello hey thanks thank ok okay im ive dont cant wont isnt doesnt
    didnt wanna gonna like anyway still really whats hows wheres stuff thing things
    something anything much many lot lots possible possibly completely totally anymore
    already instead actually exactly maybe perhaps guys folks sierra outfitters store shop
    policy policies rule rules tell know need wondering question questions help hasnt havent
    wasnt werent arent aint shouldnt couldnt""".split()  # noqa: SIM905
)

_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A deliberately light suffix stripper: plural, -ing, -ed, trailing e."""
    if len(word) <= 3 or word.isdigit():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
        if len(word) > 2 and word[-1] == word[-2] and word[-1] not in "lsz":
            word = word[:-1]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) > 3:
        word = word[:-1]
    if word.endswith("ll") and len(word) > 4:
        word = word[:-1]
    return word


# Inflected forms of a synonym ("fixed", "swapped") fold the same way as the word.
_STEMMED_SYNONYMS: dict[str, str] = {}


# "How does X work?" asks about X; the "work" there is filler, unlike in "doesn't work".
_HOW_DOES_IT_WORK = re.compile(r"\bhow (?:do|does|did)\b(.*?)\bwork(?:s)?\b")


def _prepare(text: str) -> str:
    text = text.lower().replace("’", "'")
    text = _HOW_DOES_IT_WORK.sub(r"how \1", text)
    text = re.sub(r"n't\b", "nt", text).replace("'s", "")
    for pattern, canonical in _PHRASES:
        text = pattern.sub(f" {canonical} ", text)
    return text


def _build_stemmed_synonyms() -> None:
    for word, canonical in _SYNONYMS.items():
        if " " not in canonical and _stem(word) != _stem(canonical):
            _STEMMED_SYNONYMS.setdefault(_stem(word), _stem(canonical))


def analyze_words(text: str) -> list[tuple[str, str]]:
    """(word as written, index term) pairs; the word is kept for typo correction."""
    pairs: list[tuple[str, str]] = []
    for word in _WORD.findall(_prepare(text)):
        if word in _STOPWORDS:
            continue
        for part in _SYNONYMS.get(word, word).split():
            term = _stem(part)
            term = _STEMMED_SYNONYMS.get(term, term)
            if part not in _STOPWORDS and term not in _STOPWORDS:
                pairs.append((word, term))
    return pairs


_build_stemmed_synonyms()


def analyze(text: str) -> list[str]:
    """Index terms for a text: the same steps for articles and for questions."""
    return [term for _, term in analyze_words(text)]


def normalize_question(text: str) -> str:
    """A stable key for grouping the same unanswered question asked in different words."""
    terms = list(dict.fromkeys(analyze(text)))
    if terms:
        return " ".join(terms)[:300]
    return " ".join(_WORD.findall(text.lower()))[:300]


def _within_edits(a: str, b: str, limit: int) -> bool:
    """Optimal string alignment distance <= limit (adjacent swaps count as one edit)."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


@dataclass(frozen=True)
class IndexedPassage:
    passage_id: int
    article_id: int
    title: str
    slug: str
    url: str
    heading: str
    anchor: str
    text: str


@dataclass(frozen=True)
class Hit:
    passage: IndexedPassage
    score: float
    coverage: float  # share of the question's term weight found in this passage


@dataclass
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Hit]  # best passage of each article, best first
    covered: bool
    unknown_terms: list[str] = field(default_factory=list)


# When is a question "covered"? The best article must hold a good share of the
# question's weight (coverage), and either hold nearly all of it or also score
# well. Chosen on eval/questions.jsonl (python manage.py eval_help_center).
MIN_SCORE = 3.0
MIN_COVERAGE = 0.42
STRONG_COVERAGE = 0.7
CONFIDENT_SCORE = 6.2
ARTICLE_WEIGHT = 0.5


class HelpIndex:
    """BM25 over passages, blended with BM25 over whole articles.

    A passage's document is its text plus its heading and its article's title,
    which say what the section is about in the store's own words. The article
    score adds what the article as a whole is about, so a short section of a
    long article on the right topic beats a stray match elsewhere."""

    def __init__(self, passages: list[IndexedPassage], version: str) -> None:
        self.version = version
        self.passages = passages
        self.documents = [self._document(p) for p in passages]
        article_docs: dict[int, list[str]] = {}
        for passage in passages:
            if passage.article_id not in article_docs:
                article_docs[passage.article_id] = analyze(passage.title)
            article_docs[passage.article_id] += analyze(passage.heading) + analyze(passage.text)
        self.article_ids = list(article_docs)
        self.article_terms = {aid: set(doc) for aid, doc in article_docs.items()}
        self.vocabulary: Counter[str] = Counter()
        for document in self.documents:
            self.vocabulary.update(set(document))
        # Words as written in the articles, for correcting misspelt question words.
        self.spellings: dict[str, str] = {}
        for passage in passages:
            for text in (passage.title, passage.heading, passage.text):
                for word, term in analyze_words(text):
                    self.spellings.setdefault(word, term)
        self.bm25 = BM25Okapi(self.documents) if passages else None
        # Sections without their article's title: which section of an article answers best.
        self.section_bm25 = (
            BM25Okapi([2 * analyze(p.heading) + analyze(p.text) for p in passages])
            if passages
            else None
        )
        self.article_bm25 = BM25Okapi(list(article_docs.values())) if passages else None
        n = max(len(passages), 1)
        # Plain (never negative) idf for judging how much of a question was matched.
        self.weights = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in self.vocabulary.items()
        }
        # A word no article uses might be a stray filler word or the very topic the
        # help center lacks; it counts like a word that is in about one passage in 20.
        self.unknown_weight = math.log(1 + (n - n / 20 + 0.5) / (n / 20 + 0.5))

    @staticmethod
    def _document(passage: IndexedPassage) -> list[str]:
        return 2 * analyze(passage.title) + 2 * analyze(passage.heading) + analyze(passage.text)

    def _correct(self, word: str, term: str) -> str | None:
        """The term itself if indexed, else the term of the closest article word.

        Only longer words are corrected (one edit from 6 letters, two from 9) and
        the first letter must match: short words are too often a different word."""
        if term in self.vocabulary:
            return term
        if len(word) < 6 or word.isdigit():
            return None
        limit = 1 if len(word) < 9 else 2
        candidates = [
            known
            for known in self.spellings
            if known[0] == word[0]
            and abs(len(known) - len(word)) <= limit
            and _within_edits(word, known, limit)
        ]
        if not candidates:
            return None
        best = max(candidates, key=lambda known: (self.vocabulary[self.spellings[known]], known))
        return self.spellings[best]

    def search(self, query: str, *, limit: int = 3) -> SearchResult:
        terms: list[str] = []
        unknown: list[str] = []
        for word, raw in analyze_words(query):
            corrected = self._correct(word, raw)
            if corrected is None:
                unknown.append(raw)
            else:
                terms.append(corrected)
        if self.bm25 is None or self.article_bm25 is None or not terms:
            return SearchResult(query, terms, [], False, unknown)
        article_scores = dict(
            zip(self.article_ids, self.article_bm25.get_scores(terms), strict=True)
        )
        passage_scores = self.bm25.get_scores(terms)
        scores = [
            float(score) + ARTICLE_WEIGHT * float(article_scores[p.article_id])
            for p, score in zip(self.passages, passage_scores, strict=True)
        ]
        unique_terms = set(terms)
        total_weight = sum(self.weights[t] for t in unique_terms)
        total_weight += self.unknown_weight * len(set(unknown))
        section_scores = self.section_bm25.get_scores(terms) if self.section_bm25 else scores
        best_section: dict[int, int] = {}
        for index, passage in enumerate(self.passages):
            current = best_section.get(passage.article_id)
            if current is None or section_scores[index] > section_scores[current]:
                best_section[passage.article_id] = index
        seen: set[int] = set()
        hits: list[Hit] = []
        for index in sorted(range(len(scores)), key=lambda i: -scores[i]):
            passage = self.passages[index]
            if passage.article_id in seen or scores[index] <= 0:
                continue
            seen.add(passage.article_id)
            words = self.article_terms[passage.article_id]
            matched = sum(self.weights[t] for t in unique_terms if t in words)
            coverage = matched / total_weight if total_weight else 0.0
            # The article ranks by its best passage; the section shown is the one whose
            # own heading and text match best.
            shown = self.passages[best_section[passage.article_id]]
            hits.append(Hit(shown, scores[index], coverage))
            if len(hits) == limit:
                break
        return SearchResult(query, terms, hits, bool(hits) and is_good(hits[0]), unknown)

    def sections_of(self, article_id: int, query: str, limit: int = 2) -> list[IndexedPassage]:
        """An article's sections that best match the question, best first."""
        terms = [t for word, raw in analyze_words(query) if (t := self._correct(word, raw))]
        if not terms or self.section_bm25 is None:
            return []
        scores = self.section_bm25.get_scores(terms)
        own = [i for i, passage in enumerate(self.passages) if passage.article_id == article_id]
        ranked = sorted(own, key=lambda i: -scores[i])
        return [self.passages[i] for i in ranked[:limit] if scores[i] > 0]


def is_good(hit: Hit) -> bool:
    """Whether a hit answers the question well enough to be shown at all."""
    if hit.score < MIN_SCORE or hit.coverage < MIN_COVERAGE:
        return False
    return hit.coverage >= STRONG_COVERAGE or hit.score >= CONFIDENT_SCORE


_lock = threading.Lock()
_current: HelpIndex | None = None


def _stored_version() -> str:
    from .models import IndexState

    return IndexState.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""


def _load_passages() -> list[IndexedPassage]:
    from .models import Passage

    rows = (
        Passage.objects.filter(article__published=True)
        .select_related("article")
        .order_by("article_id", "position")
    )
    return [
        IndexedPassage(
            passage_id=row.pk,
            article_id=row.article_id,
            title=row.article.title,
            slug=row.article.slug,
            url=row.article.get_absolute_url(),
            heading=row.heading,
            anchor=row.anchor,
            text=row.text,
        )
        for row in rows
    ]


def current_index() -> HelpIndex:
    """This process's index, rebuilt first if the stored stamp has changed."""
    global _current
    version = _stored_version()
    index = _current
    if index is not None and index.version == version:
        return index
    with _lock:
        if _current is not None and _current.version == version:
            return _current
        # Read the passages after the version: at worst we rebuild once more later.
        _current = HelpIndex(_load_passages(), version)
        return _current


def forget_index() -> None:
    global _current
    with _lock:
        _current = None
