from __future__ import annotations

from apps.common.errors import Refusal


class ChatError(Refusal):
    """A refusal the client sees as an `error` frame with this code."""
