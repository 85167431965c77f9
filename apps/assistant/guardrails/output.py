"""The output guard: model text checked before any client sees it, streaming included."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ..runs import RunIndex
from .folding import _normalise
from .verdicts import Verdict

SAFE_REPLY = (
    "Sorry, I can't share that. I'm here to help with your orders and questions about the "
    "store. What can I do for you?"
)
LINK_REMOVED = "[link removed]"

_RUN_WORDS = 12  # this many consecutive words of an instruction text is a leak
_RUN_CHARS = 80  # ... and so is this many consecutive characters (normalised)

# Markdown images and links, bare URLs, raw HTML images. Spans are matched on the
# raw model text; a construct still open at the end of the buffer is held back.
_MD_IMAGE = r"!\[[^\[\]\n]{0,300}\](?:\([^()\n]{0,800}\)|\[[^\[\]\n]{0,100}\])"
_MD_LINK = (
    r"\[(?P<label>[^\[\]\n]{0,300})\]"
    r"\((?P<dest>(?:[^()\s]|\([^()\s]{0,100}\)){0,800})(?:\s+\"[^\"\n]*\")?\)"
)
_HTML_IMG = r"<\s*img\b[^>\n]{0,800}>"
_BARE_URL = r"(?:https?://|www\.|data:[a-z]+/|javascript:|vbscript:)[^\s<>\"'`()\[\]{}]+"
_AUTOLINK = r"<(?:https?://|mailto:)[^\s<>]+>"
_CONSTRUCT = re.compile(
    rf"(?P<image>{_MD_IMAGE})|(?P<html>{_HTML_IMG})|(?P<link>{_MD_LINK})|"
    rf"(?P<auto>{_AUTOLINK})|(?P<url>{_BARE_URL})",
    re.IGNORECASE,
)


def _prefix_of(literal: str) -> str:
    """A pattern for any non-empty beginning of `literal`: h, ht, htt, ... https://."""
    pattern = ""
    for char in reversed(literal[1:]):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return re.escape(literal[0]) + pattern


# Something that may still become an image or a link once more text arrives: an open
# bracket (or the "!" before an image's), an unfinished <img or autolink, or the start
# of a URL's scheme (a bare URL may begin inside a word: "with" may end in "https://").
_OPEN_TAIL = re.compile(
    r"(?:!?\[[^\[\]\n]{0,300}(?:\](?:\([^()\n]{0,800}|\[[^\[\]\n]{0,100})?)?|!"
    r"|<\s*(?:i(?:m(?:g[^>\n]{0,800})?)?)?|<(?:https?://|mailto:)[^\s<>]{0,800}"
    rf"|<(?:{_prefix_of('https://')}|{_prefix_of('http://')}|{_prefix_of('mailto:')})"
    rf"|{_prefix_of('https://')}|{_prefix_of('http://')}|{_prefix_of('www.')}|data(?::[a-z]*/?)?|{_prefix_of('data')}"
    rf"|{_prefix_of('javascript:')}|{_prefix_of('vbscript:')})\Z",
    re.IGNORECASE,
)
_TRAILING_PUNCT = ".,;:!?"


def _begun(text: str, key: str) -> int:
    """How long the longest beginning of `key` (shorter than all of it) that ends
    `text` is; 0 if none. Only where the key's first character stands in the tail
    can such a beginning start."""
    if not key:
        return 0
    at = text.find(key[0], max(0, len(text) - len(key) + 1))
    while at != -1:
        if key.startswith(text[at:]):
            return len(text) - at
        at = text.find(key[0], at + 1)
    return 0


def _default_allowed_domains() -> list[str]:
    from django.conf import settings

    domains = list(getattr(settings, "SUPPORTBOT_STORE_DOMAINS", []))
    for host in getattr(settings, "ALLOWED_HOSTS", []):
        if host and host != "*":
            domains.append(host)
    return domains


_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")


def _is_mark(char: str) -> bool:
    """A character that joins the one before it under NFKC (accents, Hangul vowels)."""
    return unicodedata.combining(char) != 0 or "\u1160" <= char <= "\u11ff"


@dataclass(frozen=True)
class _Instructions:
    chars: RunIndex  # the instruction texts, normalised, lower case, one space per gap
    words: RunIndex  # ... and as words ([a-z0-9]+)
    word_starts: frozenset[str]  # every beginning of every instruction word


@lru_cache(maxsize=32)
def _instruction_index(instructions: tuple[str, ...]) -> _Instructions:
    """What counts as a verbatim leak: runs of these characters and of these words."""
    chars = [re.sub(r"\s+", " ", _normalise(text).lower()) for text in instructions]
    words = [re.findall(r"[a-z0-9]+", text) for text in chars]
    starts = {word[:end] for text in words for word in text for end in range(1, len(word) + 1)}
    return _Instructions(RunIndex(chars), RunIndex(words), frozenset(starts))


@dataclass
class _Reading:
    """The guard's reading of the text so far, after the same normalisation as the
    input screen (NFKC, zero-width characters dropped, look-alike letters mapped).

    Three views, each read once and each knowing the raw offset its symbols came from:
    characters (lower case, one space per gap), words, and the canary's squashed form
    (letters and digits only). `char_state`/`word_state` track the longest ending of
    each view that occurs in the instructions."""

    char_raw: list[int] = field(default_factory=list)
    char_state: tuple[int, int] = (0, 0)
    last_space: bool = False
    word_raw: list[int] = field(default_factory=list)
    word_state: tuple[int, int] = (0, 0)
    word: str = ""  # the word being read, not yet ended
    word_at: int = 0
    squashed: list[str] = field(default_factory=list)
    squashed_raw: list[int] = field(default_factory=list)

    def mark(self) -> tuple[Any, ...]:
        return (
            len(self.char_raw),
            self.char_state,
            self.last_space,
            len(self.word_raw),
            self.word_state,
            self.word,
            self.word_at,
            len(self.squashed),
        )

    def rewind(self, mark: tuple[Any, ...]) -> None:
        chars, self.char_state, self.last_space, words = mark[:4]
        self.word_state, self.word, self.word_at, squashed = mark[4:]
        del self.char_raw[chars:], self.word_raw[words:]
        del self.squashed[squashed:], self.squashed_raw[squashed:]


class OutputGuard:
    """Checks model text before any client sees it, streaming included.

    `feed` returns the text that is safe to release now. It holds back only the
    shortest tail that could still become a leak or an unsafe construct: the end of
    the text that is the beginning of a protected run (a run of the instructions'
    characters or words, the canary, plain or squashed or reversed) or of a link or
    image not yet finished. Ordinary text goes out at once, so no client ever sees
    any part of a run that later completes, and a leak split across any number of
    deltas is still caught whole. Once tripped, nothing more is released and
    `final_text()` is `SAFE_REPLY`. Links survive only to the store's own domains (and
    relative /help/ links); every Markdown image is dropped. Each removal is a verdict.
    """

    def __init__(
        self,
        *,
        canary: str,
        instructions: list[str],
        allowed_domains: Iterable[str] | None = None,
        allowed_paths: Sequence[str] = ("/help/",),
    ) -> None:
        self.canary = canary
        self.instructions = instructions
        domains = _default_allowed_domains() if allowed_domains is None else allowed_domains
        self.allowed_domains = [d.lower().lstrip(".").strip() for d in domains if d.strip()]
        self.allowed_paths = tuple(allowed_paths)
        self.buffer = ""  # everything the model said
        self.released = 0  # how much of `buffer` has been processed and sent
        self.sent: list[str] = []  # what actually went out, after link filtering
        self.finished = False
        self.tripped: Verdict | None = None
        self.verdicts: list[Verdict] = []
        self._canary_keys = self._make_canary_keys(canary)
        self._index = _instruction_index(tuple(instructions))
        self._reading = _Reading()
        # The last character may still be joined by an accent in the next delta: it is
        # read provisionally, and read again from here with whatever follows it.
        self._last_at = 0
        self._last_mark = self._reading.mark()

    # -- public -------------------------------------------------------------------

    def feed(self, text: str) -> str:
        if self.tripped or self.finished or not text:
            return ""
        before = len(self.buffer)
        self.buffer += text
        if self._read(before):
            return ""
        return self._release(self._safe_cut())

    def finish(self) -> str:
        if self.tripped or self.finished:
            return ""
        self.finished = True
        if self._end_word(self._reading):
            return ""
        return self._release(len(self.buffer))

    def final_text(self) -> str:
        if self.tripped:
            return SAFE_REPLY
        if not self.finished:
            self.finish()
            if self.tripped:
                return SAFE_REPLY
        return "".join(self.sent).strip()

    # -- release --------------------------------------------------------------------

    def _safe_cut(self) -> int:
        """The end of the text that can go out now: before anything that could still
        become a leak, and never inside a link or image."""
        cut = min(self._leak_hold(), len(self.buffer))
        if cut <= self.released:
            return self.released
        for match in _CONSTRUCT.finditer(self.buffer, self.released):
            if match.start() >= cut:
                break
            if match.end() > cut or match.end() == len(self.buffer):
                cut = match.start()
                break
        tail = _OPEN_TAIL.search(self.buffer, self.released)
        if tail is not None:
            cut = min(cut, tail.start())
        return max(cut, self.released)

    def _release(self, end: int) -> str:
        chunk = self.buffer[self.released : end]
        self.released = end
        if not chunk:
            return ""
        clean = _CONSTRUCT.sub(self._filter, chunk)
        self.sent.append(clean)
        return clean

    def _filter(self, match: re.Match[str]) -> str:
        kind = match.lastgroup
        text = match.group(0)
        if kind in ("image", "html"):
            self._record("markdown_image" if kind == "image" else "html_image", text)
            return ""
        if kind == "link":
            label, dest = match.group("label"), match.group("dest")
            if self._allowed(dest):
                return text
            self._record("link", dest)
            return f"{label} {LINK_REMOVED}".strip()
        if kind == "auto":
            if self._allowed(text[1:-1]):
                return text
            self._record("link", text[1:-1])
            return LINK_REMOVED
        stripped = text.rstrip(_TRAILING_PUNCT)
        trailing = text[len(stripped) :]
        if self._allowed(stripped):
            return text
        self._record("link", stripped)
        return LINK_REMOVED + trailing

    def _allowed(self, url: str) -> bool:
        url = url.strip().strip("<>")
        if url.startswith("/") and not url.startswith("//"):
            return any(url.startswith(path) for path in self.allowed_paths)
        if url.lower().startswith("www."):
            url = "https://" + url
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return False
        if parts.scheme.lower() not in ("http", "https", "mailto"):
            return False
        if parts.scheme.lower() == "mailto":
            host = parts.path.rpartition("@")[2].lower()
        if not re.fullmatch(r"[a-z0-9.-]+", host or "-"):
            return False
        return any(host == domain or host.endswith("." + domain) for domain in self.allowed_domains)

    def _record(self, what: str, target: str) -> None:
        reason = {
            "markdown_image": "markdown image dropped",
            "html_image": "html image dropped",
            "link": "link to a domain outside the store removed",
        }[what]
        self.verdicts.append(
            Verdict(
                check="output_guard",
                tripwire=False,
                reason=f"{reason}: {target[:120]}",
                categories=["image" if what != "link" else "external_link"],
                score=1.0,
            )
        )

    # -- leaks ------------------------------------------------------------------------

    @staticmethod
    def _make_canary_keys(canary: str) -> list[str]:
        key = re.sub(r"[^a-z0-9]", "", canary.lower())
        return [key, key[::-1]] if len(key) >= 8 else []

    def _read(self, before: int) -> bool:
        """Read the text from `before` on (and the provisional last character again);
        True once it leaks."""
        if self.canary:
            start = max(0, before - len(self.canary) + 1)
            if self.canary in self.buffer[start:]:
                return self._trip("canary marker in model output")
        reading = self._reading
        reading.rewind(self._last_mark)
        position, end = self._last_at, len(self.buffer)
        while position < end:
            stop = position + 1
            while stop < end and _is_mark(self.buffer[stop]):
                stop += 1
            if stop == end:
                self._last_at, self._last_mark = position, reading.mark()
            if self._read_cluster(reading, position, self.buffer[position:stop]):
                return True
            position = stop
        return False

    def _read_cluster(self, reading: _Reading, at: int, cluster: str) -> bool:
        # ASCII is its own normal form (what _normalise changes is all beyond it).
        for char in (cluster if cluster.isascii() else _normalise(cluster)).lower():
            if char.isspace():
                if not reading.last_space:
                    reading.last_space = True
                    if self._read_char(reading, at, " "):
                        return True
            else:
                reading.last_space = False
                if self._read_char(reading, at, char):
                    return True
            if char in _WORD_CHARS:
                if not reading.word:
                    reading.word_at = at
                reading.word += char
                reading.squashed.append(char)
                reading.squashed_raw.append(at)
                if self._canary_keys and len(reading.squashed) >= len(self._canary_keys[0]):
                    size = len(self._canary_keys[0])
                    if "".join(reading.squashed[-size:]) in self._canary_keys:
                        return self._trip("canary marker (obfuscated) in model output")
            elif reading.word and self._end_word(reading):
                return True
        return False

    def _read_char(self, reading: _Reading, at: int, char: str) -> bool:
        reading.char_raw.append(at)
        reading.char_state = self._index.chars.step(*reading.char_state, char)
        if reading.char_state[1] >= _RUN_CHARS:
            return self._trip(f"{_RUN_CHARS}+ characters verbatim from the instructions")
        return False

    def _end_word(self, reading: _Reading) -> bool:
        if not reading.word:
            return False
        reading.word_raw.append(reading.word_at)
        reading.word_state = self._index.words.step(*reading.word_state, reading.word)
        reading.word = ""
        if reading.word_state[1] >= _RUN_WORDS:
            return self._trip(f"{_RUN_WORDS}+ words verbatim from the instructions")
        return False

    def _leak_hold(self) -> int:
        """Where the tail that could still grow into a leak begins (len(buffer): none)."""
        reading, hold = self._reading, len(self.buffer)
        begun = _begun(self.buffer, self.canary)
        if begun:
            hold = len(self.buffer) - begun
        if self._canary_keys:
            tail = "".join(reading.squashed[-len(self._canary_keys[0]) :])
            for key in self._canary_keys:
                begun = _begun(tail, key)
                if begun:
                    hold = min(hold, reading.squashed_raw[-begun])
        matched = reading.char_state[1]
        if matched:
            hold = min(hold, reading.char_raw[-matched])
        state, matched = reading.word_state
        if not reading.word:
            if matched:
                hold = min(hold, reading.word_raw[-matched])
            return hold
        words = self._index.words
        # The word being read goes on an instruction word: hold it and the words before
        # it that, with it, may continue a run.
        while True:
            if state == 0:
                if reading.word in self._index.word_starts:
                    hold = min(hold, reading.word_at)
                return hold
            if any(
                isinstance(follower, str) and follower.startswith(reading.word)
                for follower in words.followers(state)
            ):
                return min(hold, reading.word_raw[-matched])
            state, matched = words.shorter(state)

    def _trip(self, reason: str) -> bool:
        self.tripped = Verdict(
            check="output_guard",
            tripwire=True,
            reason=reason,
            categories=["instruction_leak"],
            score=1.0,
        )
        self.verdicts.append(self.tripped)
        return True
