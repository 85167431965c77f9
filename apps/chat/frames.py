"""Client frames of the customer socket, typed (see docs/protocol.md)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter
from pydantic_core import PydanticCustomError

from apps.common.errors import Refusal

from .models import Message, attachment_url
from .text import has_lone_surrogate

# Sequence numbers are PostgreSQL bigints; a larger number must be refused here,
# not by the database mid-command.
MAX_SEQ = 2**62


class FrameError(Refusal):
    """A frame that cannot be read; the client gets an `error` frame with this code."""


def decode_frame(text_data: str | None, *, max_bytes: int) -> dict[str, Any]:
    """The JSON object in a text frame, or FrameError for anything else.

    Some frames parse as JSON yet fail on the way (an integer of thousands of
    digits, arrays nested thousands deep): every failure is a FrameError.
    """
    if text_data is None:
        raise FrameError("invalid_frame", "Frames must be JSON text, not binary.")
    if len(text_data.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FrameError("frame_too_large", f"Frames may be at most {max_bytes} bytes.")
    try:
        payload = json.loads(text_data)
    except json.JSONDecodeError:
        raise FrameError("invalid_json", "The frame is not valid JSON.") from None
    except (ValueError, RecursionError):
        # int() refuses more than 4300 digits; the decoder recurses per nesting level.
        raise FrameError("invalid_frame", "The frame is too complex to read.") from None
    if not isinstance(payload, dict):
        raise FrameError("invalid_frame", "A frame must be a JSON object.")
    return payload


def _unicode_text(value: str) -> str:
    # JSON lets a client escape half a surrogate pair ("\\ud800"); that is not text.
    # Refused explicitly: pydantic lets it through a str field with no constraints.
    if has_lone_surrogate(value):
        raise PydanticCustomError("string_unicode", "a lone surrogate is not valid text")
    return value


Text = Annotated[str, AfterValidator(_unicode_text)]


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageFrame(_Frame):
    type: Literal["message"]
    client_id: uuid.UUID
    text: Text = ""  # may be empty when a photo is sent
    attachment_id: uuid.UUID | None = None  # a photo uploaded to /api/conversations/<id>/photos/


class ResumeFrame(_Frame):
    type: Literal["resume"]
    last_seq: int = Field(ge=0, le=MAX_SEQ)


class ConfirmFrame(_Frame):
    type: Literal["confirm"]
    action_id: Text = Field(max_length=64)
    decision: Literal["approve", "decline"]


class RetryFrame(_Frame):
    type: Literal["retry"]


class EndFrame(_Frame):
    type: Literal["end"]


class RateFrame(_Frame):
    type: Literal["rate"]
    score: int = Field(ge=1, le=5)
    comment: Text = Field(default="", max_length=2000)


class TypingFrame(_Frame):
    type: Literal["typing"]
    typing: bool = Field(strict=True)


class ReadFrame(_Frame):
    type: Literal["read"]
    seq: int = Field(ge=0)


ClientFrame = Annotated[
    MessageFrame
    | ResumeFrame
    | ConfirmFrame
    | RetryFrame
    | EndFrame
    | RateFrame
    | TypingFrame
    | ReadFrame,
    Field(discriminator="type"),
]
client_frame = TypeAdapter(ClientFrame)
FRAME_TYPES = ("message", "resume", "confirm", "retry", "end", "rate", "typing", "read")


# --- Frames the server sends ---------------------------------------------------------


def message_frame(message: Message) -> dict[str, Any]:
    """The server frame for a stored event (see docs/protocol.md)."""
    meta = message.metadata or {}
    created_at = message.created_at.isoformat() if message.created_at else None
    if message.kind == Message.Kind.CONFIRM_REQUEST:
        return {
            "type": "confirm_request",
            "seq": message.seq,
            "action_id": meta.get("action_id"),
            "summary": message.text,
            "details": meta.get("details", {}),
            "expires_at": meta.get("expires_at"),
            "turn_id": meta.get("turn_id"),
            "created_at": created_at,
        }
    if message.kind == Message.Kind.CONFIRM_RESULT:
        return {
            "type": "confirm_result",
            "seq": message.seq,
            "action_id": meta.get("action_id"),
            "status": meta.get("status"),
            "text": message.text,
            "created_at": created_at,
        }
    if message.kind == Message.Kind.HANDOFF:
        frame: dict[str, Any] = {
            "type": "handoff",
            "seq": message.seq,
            "state": meta.get("state"),
            "text": message.text,
            "created_at": created_at,
        }
        for key in ("agent_name", "position"):
            if meta.get(key) is not None:
                frame[key] = meta[key]
        return frame
    frame = {
        "type": "message",
        "seq": message.seq,
        "id": message.pk,
        "role": message.role,
        "text": message.text,
        "created_at": created_at,
    }
    if message.client_id:
        frame["client_id"] = str(message.client_id)
    for key in ("turn_id", "citations", "offline", "agent_name", "notice", "retry"):
        if meta.get(key) is not None:
            frame[key] = meta[key]
    photo = meta.get("attachment")
    if isinstance(photo, dict) and photo.get("id"):
        frame["attachment"] = {**photo, "url": attachment_url(photo["id"])}
    return frame
