from __future__ import annotations


class ChatError(Exception):
    """A refusal the client sees as an `error` frame with this code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
