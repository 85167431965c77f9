"""The hand-off tool the model may call (auto-discovered by the assistant app)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from apps.assistant.tools import ToolContext, ToolResult, tool

from . import services


def _clipped(limit: int) -> AfterValidator:
    # Clipped, not refused: a long note from the model must not stop a hand-off.
    # (No length keywords in the schema: OpenAI's strict mode would reject them.)
    return AfterValidator(lambda value: " ".join(value.split())[:limit])


class EscalateArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, _clipped(300)] = Field(
        description="One short sentence for the agent: why a person is needed."
    )
    priority: Literal["low", "normal", "high", "urgent"] = Field(
        description="urgent only for safety, fraud or legal threats; high for money at stake "
        "or a very upset customer; normal otherwise; low for general questions."
    )
    summary: Annotated[str, _clipped(1000)] = Field(
        description="What the customer wants and what has been tried so far, for the agent."
    )


@tool(access="public", status=lambda args: "Connecting you with our support team…")
def escalate_to_human(ctx: ToolContext, args: EscalateArgs) -> ToolResult:
    """Hand this conversation to a human support agent, as the operator policy's hand-off
    rule says: when the customer asks for a person, or when you cannot help (the request
    is outside what your tools can do, verification failed too many times, a policy
    exception is needed). A frustrated customer is helped, not handed off, unless that
    rule says otherwise. `reason`: one short sentence for the agent. `priority`:
    urgent only for safety, fraud or legal threats; high for an angry customer or money
    at stake; else normal (low for general questions). `summary`: what the customer
    wants and what has been tried, for the agent. After this call a person takes over:
    do not answer the customer any further yourself."""
    escalation, created = services.do_escalate(
        ctx.conversation_id,
        trigger=services.trigger_for_tool(ctx.conversation_id),
        reason=args.reason,
        priority=services.PRIORITIES.get(args.priority, 2),
        note=args.summary,
    )
    if escalation is None:
        return ToolResult(
            ok=False, data={"escalated": False, "error": "This conversation cannot be handed over."}
        )
    return ToolResult(
        data={
            "escalated": True,
            "already_waiting": not created,
            "note": "A person from the support team is taking over. Say nothing more.",
        }
    )
