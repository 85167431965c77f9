"""Calling order tools the way the turn engine does: parse the raw JSON, then run."""

from __future__ import annotations

import json
import uuid
from typing import Any

from apps.assistant.tools import ToolContext, ToolResult, get_tool
from apps.chat import services as chat

# A valid address for the address changes (a copy per use: tests may edit it).
ADDRESS = {
    "address1": "1 Elm St",
    "address2": "",
    "city": "Austin",
    "state": "TX",
    "country": "USA",
    "zip": "78701",
}


def ctx_for(
    customer_id: str | None, conversation_id: uuid.UUID | None = None, *, said: tuple[str, ...] = ()
) -> ToolContext:
    """A tool context; `said` is what the customer typed in the conversation."""
    return ToolContext(
        conversation_id=conversation_id or uuid.uuid4(),
        customer_id=customer_id,
        customer_texts=said,
    )


def call(ctx: ToolContext, name: str, **arguments: Any) -> ToolResult:
    """As the turn engine calls it: a verification outcome is recorded on the conversation."""
    spec = get_tool(name)
    assert spec is not None, name
    assert spec.allowed(ctx), f"{name} is not offered here"
    return chat.do_run_tool(spec, ctx, spec.parse(json.dumps(arguments)))


def execute(ctx: ToolContext, name: str, **arguments: Any) -> ToolResult:
    spec = get_tool(name)
    assert spec is not None and spec.execute is not None, name
    return spec.execute(ctx, spec.parse(json.dumps(arguments)))
