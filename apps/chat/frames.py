"""Client frames of the customer socket, typed (see docs/protocol.md)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageFrame(_Frame):
    type: Literal["message"]
    client_id: uuid.UUID
    text: str = Field(min_length=1)


class ResumeFrame(_Frame):
    type: Literal["resume"]
    last_seq: int = Field(ge=0)


class ConfirmFrame(_Frame):
    type: Literal["confirm"]
    action_id: str = Field(max_length=64)
    decision: Literal["approve", "decline"]


class RetryFrame(_Frame):
    type: Literal["retry"]


class EndFrame(_Frame):
    type: Literal["end"]


class RateFrame(_Frame):
    type: Literal["rate"]
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=2000)


ClientFrame = Annotated[
    MessageFrame | ResumeFrame | ConfirmFrame | RetryFrame | EndFrame | RateFrame,
    Field(discriminator="type"),
]
client_frame = TypeAdapter(ClientFrame)
FRAME_TYPES = ("message", "resume", "confirm", "retry", "end", "rate")
