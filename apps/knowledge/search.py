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

import dataclasses
import math
import re
import threading
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rank_bm25 import BM25Okapi

from .models import ArticleQuestion, IndexState, Passage

VOCABULARY_FILE = Path(__file__).resolve().parent / "data" / "vocabulary.toml"


def _load_vocabulary(
    path: Path = VOCABULARY_FILE,
) -> tuple[list[tuple[re.Pattern[str], str]], dict[str, str], frozenset[str], str]:
    """Phrases, word synonyms, stopwords and product words, from the data file."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    phrases = [
        (re.compile(rf"\b(?:{pattern})\b"), str(canonical))
        for pattern, canonical in data.get("phrases", {}).items()
    ]
    synonyms: dict[str, str] = {}
    for canonical, variants in data.get("words", {}).items():
        for variant in variants:
            synonyms[str(variant).lower()] = str(canonical)
    stopwords = frozenset(str(data.get("stopwords", {}).get("words", "")).split())
    return phrases, synonyms, stopwords, str(data.get("products", {}).get("words", ""))


# Phrases first (they span words), then single words. Canonical forms are
# ordinary words, so they go through the same stemmer as everything else.
_PHRASES, _SYNONYMS, _STOPWORDS, _PRODUCT_WORDS = _load_vocabulary()

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
    # "buy-now-pay-later", "out-of-stock": hyphens join words the table knows apart.
    text = text.lower().replace("’", "'").replace("-", " ")
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

# Terms that name what is sold ("water bottle", "hiking boots"): they say which thing
# a question is about, not what it asks about it.
PRODUCT_TERMS = frozenset(term for _, term in analyze_words(_PRODUCT_WORDS))


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
    # "section": a part of the article's body; "question": a question the article
    # answers, written by an operator (ranked like a section, never shown).
    kind: str = "section"


@dataclass(frozen=True)
class Hit:
    passage: IndexedPassage
    score: float
    coverage: float  # share of the question's term weight found in this passage
    good: bool = False  # answers the question well enough to be shown (see is_good)
    similarity: float | None = None  # cosine to the question, on the hybrid path
    # Share of what the question asks (its words other than product names) found in the
    # same passage; 1.0 when it names only products.
    asked_coverage: float = 1.0


@dataclass
class SearchResult:
    query: str
    terms: list[str]
    hits: list[Hit]  # best passage of each article, best first
    covered: bool
    unknown_terms: list[str] = field(default_factory=list)


# When is a question "covered"? The best article must hold a good share of the
# question's weight (coverage), and either hold nearly all of it or also score
# well; a short fragment ("shipping policy?") that the article covers entirely
# needs only a low score. And one passage must hold a good share of what the
# question asks, apart from the products it names (asked_coverage). Chosen on the
# eval/tuning*.jsonl files (never on a held-out file):
# python manage.py eval_help_center --misses.
MIN_SCORE = 2.0
MIN_COVERAGE = 0.45
STRONG_COVERAGE = 0.7
CONFIDENT_SCORE = 6.0
ARTICLE_WEIGHT = 0.5
# Share of the question's non-product weight the best passage must hold.
MIN_ASKED_COVERAGE = 0.4
# A product name the answer does not repeat ("warranty claim for my coffee machine")
# counts this much of its weight towards coverage.
PRODUCT_WEIGHT = 0.5
# A word no article uses is, in what a question asks, more often the very topic the
# help center lacks ("engrave", "wholesale") than filler: it weighs half as much again.
UNKNOWN_ASKED_FACTOR = 1.5
# A word no article uses counts like a word found in this share of the passages.
UNKNOWN_WORD_SHARE = 1 / 40


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
        # What each passage is about: its words and its article's title.
        self.passage_terms = [
            set(doc) | set(analyze(p.title))
            for p, doc in zip(passages, self.documents, strict=True)
        ]
        self.vocabulary: Counter[str] = Counter()
        for document in self.documents:
            self.vocabulary.update(set(document))
        # Words as written in the articles, for correcting misspelt question words.
        self.spellings: dict[str, str] = {}
        for passage in passages:
            for text in (passage.title, passage.heading, passage.text):
                for word, term in analyze_words(text):
                    self.spellings.setdefault(word, term)
        # And the customer words the vocabulary folds onto them ("garantee" is one
        # edit from "guarantee", which means warranty).
        for variant in _SYNONYMS:
            for word, term in analyze_words(variant):
                if word == variant and term in self.vocabulary:
                    self.spellings.setdefault(word, term)
        self.bm25 = BM25Okapi(self.documents) if passages else None
        # Sections without their article's title: which section of an article answers
        # best. Operators' questions are not sections: they rank articles, not sections.
        self.sections = [i for i, p in enumerate(passages) if p.kind == "section"]
        section_docs = [
            2 * analyze(passages[i].heading) + analyze(passages[i].text) for i in self.sections
        ]
        self.section_bm25 = BM25Okapi(section_docs) if section_docs else None
        self.article_bm25 = BM25Okapi(list(article_docs.values())) if passages else None
        n = max(len(passages), 1)
        # Plain (never negative) idf for judging how much of a question was matched.
        self.weights = {
            term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in self.vocabulary.items()
        }
        # A word no article uses might be a stray filler word or the very topic the
        # help center lacks; it counts like a word that is in about one passage in 20.
        share = UNKNOWN_WORD_SHARE
        self.unknown_weight = math.log(1 + (n - n * share + 0.5) / (n * share + 0.5))

    @staticmethod
    def _document(passage: IndexedPassage) -> list[str]:
        if passage.kind == "question":
            return analyze(passage.text)
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
        # Numbers ("2 weeks", "$50") are quantities, not topics: they rank but are not
        # part of what an article must cover.
        topical = {t for t in unique_terms if not t.isdigit()}
        weight = {
            t: self.weights[t] * (PRODUCT_WEIGHT if t in PRODUCT_TERMS else 1.0) for t in topical
        }
        total_weight = sum(weight.values())
        total_weight += self.unknown_weight * len({t for t in unknown if not t.isdigit()})
        best_section = self._best_sections(terms)
        # Coverage is judged section by section: a question whose words are scattered
        # over an article's sections ("who makes your hiking boots") is not answered
        # by any of them. What the question asks is judged apart from the products it
        # names: "can you engrave the water bottle" matches the section on caring for
        # water bottles in its product words only, and that section does not answer it.
        asked = {t for t in topical if t not in PRODUCT_TERMS}
        asked_unknown = {t for t in unknown if not t.isdigit() and t not in PRODUCT_TERMS}
        asked_weight = sum(self.weights[t] for t in asked)
        asked_weight += UNKNOWN_ASKED_FACTOR * self.unknown_weight * len(asked_unknown)
        coverage_of: dict[int, tuple[float, float]] = {}
        for position, passage in enumerate(self.passages):
            words = self.passage_terms[position]
            matched = sum(weight[t] for t in topical if t in words)
            share = matched / total_weight if total_weight else 0.0
            asked_matched = sum(self.weights[t] for t in asked if t in words)
            asked_share = asked_matched / asked_weight if asked_weight else 1.0
            if (share, asked_share) > coverage_of.get(passage.article_id, (-1.0, -1.0)):
                coverage_of[passage.article_id] = (share, asked_share)

        seen: set[int] = set()
        hits: list[Hit] = []
        for index in sorted(range(len(scores)), key=lambda i: -scores[i]):
            passage = self.passages[index]
            if passage.article_id in seen or scores[index] <= 0:
                continue
            seen.add(passage.article_id)
            # The article ranks by its best passage; the section shown is the one whose
            # own heading and text match best.
            shown_index = best_section.get(passage.article_id)
            if shown_index is None:
                continue
            shown = self.passages[shown_index]
            share, asked_share = coverage_of[passage.article_id]
            hit = Hit(shown, float(scores[index]), share, asked_coverage=asked_share)
            hits.append(dataclasses.replace(hit, good=is_good(hit)))
            if len(hits) == limit:
                break
        # An article that answers goes before better-scoring ones that only share the
        # question's product words (stable: ties keep their score order).
        hits.sort(key=lambda hit: not hit.good)
        return SearchResult(query, terms, hits, bool(hits) and hits[0].good, unknown)

    def _best_sections(self, terms: list[str]) -> dict[int, int]:
        """For each article, the passage index of its best-matching section."""
        scores = self.section_bm25.get_scores(terms) if self.section_bm25 else []
        best: dict[int, tuple[float, int]] = {}
        for score, index in zip(scores, self.sections, strict=True):
            article_id = self.passages[index].article_id
            if article_id not in best or score > best[article_id][0]:
                best[article_id] = (float(score), index)
        return {article_id: index for article_id, (_, index) in best.items()}

    def sections_of(self, article_id: int, query: str, limit: int = 2) -> list[IndexedPassage]:
        """An article's sections that best match the question, best first."""
        terms = [t for word, raw in analyze_words(query) if (t := self._correct(word, raw))]
        if not terms or self.section_bm25 is None:
            return []
        scores = self.section_bm25.get_scores(terms)
        own = [
            (float(score), index)
            for score, index in zip(scores, self.sections, strict=True)
            if self.passages[index].article_id == article_id
        ]
        own.sort(key=lambda pair: -pair[0])
        return [self.passages[index] for score, index in own[:limit] if score > 0]

    def sections_in_order(self, article_id: int) -> list[IndexedPassage]:
        """An article's sections as they appear on its page."""
        return [
            self.passages[index]
            for index in self.sections
            if self.passages[index].article_id == article_id
        ]


def is_good(hit: Hit) -> bool:
    """Whether a hit answers the question well enough to be shown at all."""
    if hit.score < MIN_SCORE or hit.coverage < MIN_COVERAGE:
        return False
    if hit.asked_coverage < MIN_ASKED_COVERAGE:
        return False
    return hit.coverage >= STRONG_COVERAGE or hit.score >= CONFIDENT_SCORE


_lock = threading.Lock()
_current: HelpIndex | None = None


def _stored_version() -> str:
    return IndexState.objects.filter(pk=1).values_list("stamp", flat=True).first() or ""


def _load_passages() -> list[IndexedPassage]:
    rows = (
        Passage.objects.filter(article__published=True)
        .select_related("article")
        .order_by("article_id", "position")
    )
    questions = (
        ArticleQuestion.objects.filter(article__published=True)
        .select_related("article")
        .order_by("article_id", "id")
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
    ] + [
        IndexedPassage(
            passage_id=-question.pk,
            article_id=question.article_id,
            title=question.article.title,
            slug=question.article.slug,
            url=question.article.get_absolute_url(),
            heading="",
            anchor="",
            text=question.text,
            kind="question",
        )
        for question in questions
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
