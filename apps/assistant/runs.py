"""Streaming search for protected runs: is the end of this text part of those texts?

The output guard reads the model's text once, symbol by symbol (characters or
words), and must know at every step how long the text's longest ending is that
also occurs somewhere in the instructions: that ending is what could still grow
into a verbatim leak, so it is what the guard holds back, and once it is long
enough it is the leak. A suffix automaton of the instructions answers that in
constant time per symbol (the classic longest-common-substring walk), whatever
the length of the reply, so the guard costs the same per delta at the end of a
long reply as at its start.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence


class RunIndex:
    """A suffix automaton of several sequences; a match never spans two of them."""

    def __init__(self, sequences: Iterable[Sequence[Hashable]]) -> None:
        self.length: list[int] = [0]
        self.link: list[int] = [-1]
        self.next: list[dict[Hashable, int]] = [{}]
        last = 0
        for number, sequence in enumerate(sequences):
            if number:
                # A symbol no text streams: matches stop at the border between two texts.
                last = self._extend(last, object())
            for symbol in sequence:
                last = self._extend(last, symbol)

    def _extend(self, last: int, symbol: Hashable) -> int:
        length, link, nxt = self.length, self.link, self.next
        current = len(length)
        length.append(length[last] + 1)
        link.append(0)
        nxt.append({})
        state = last
        while state != -1 and symbol not in nxt[state]:
            nxt[state][symbol] = current
            state = link[state]
        if state == -1:
            return current
        target = nxt[state][symbol]
        if length[state] + 1 == length[target]:
            link[current] = target
            return current
        clone = len(length)
        length.append(length[state] + 1)
        link.append(link[target])
        nxt.append(dict(nxt[target]))
        while state != -1 and nxt[state].get(symbol) == target:
            nxt[state][symbol] = clone
            state = link[state]
        link[target] = clone
        link[current] = clone
        return current

    def step(self, state: int, matched: int, symbol: Hashable) -> tuple[int, int]:
        """After `symbol`: the state and length of the longest ending found in the texts."""
        nxt, link = self.next, self.link
        while state and symbol not in nxt[state]:
            state = link[state]
            matched = self.length[state]
        target = nxt[state].get(symbol)
        if target is None:
            return 0, 0
        return target, matched + 1

    def shorter(self, state: int) -> tuple[int, int]:
        """The state of the longest ending shorter than those `state` stands for."""
        parent = self.link[state]
        return parent, self.length[parent]

    def followers(self, state: int) -> Iterable[Hashable]:
        """The symbols that may follow the matched ending somewhere in the texts."""
        return self.next[state].keys()
