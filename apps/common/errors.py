"""The refusal every app raises in its own name: a `code` the client or page switches on
and a `message` fit to show the person refused."""

from __future__ import annotations


class Refusal(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
