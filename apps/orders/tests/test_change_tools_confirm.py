"""A change tool only proposes; the customer's confirm runs it, exactly once."""

from __future__ import annotations

import pytest

from apps.assistant.tools import ToolError
from apps.chat import services as chat
from apps.chat.models import PendingAction
from apps.orders.models import Order, OrderAuditEvent, PaymentMethod

from .tooling import ADDRESS, call, ctx_for, execute

pytestmark = pytest.mark.django_db

ETHAN = "ethan_lopez_6291"


def test_a_change_tool_proposes_and_changes_nothing(store: None) -> None:
    result = call(
        ctx_for(ETHAN), "cancel_pending_order", order_id="#W6779827", reason="no longer needed"
    )

    assert result.proposal is not None
    assert "Cancel order #W6779827" in result.proposal.summary
    assert "$4,079.45" in result.proposal.summary
    assert "gift card" in result.proposal.summary
    assert result.data["status"] == "awaiting_customer_confirmation"
    assert "Nothing has changed" in result.data["note"]
    assert Order.objects.get(order_id="#W6779827").status == "pending"
    assert not OrderAuditEvent.objects.exists()


def test_a_refused_proposal_is_an_error_the_model_can_explain(store: None) -> None:
    with pytest.raises(ToolError, match="Non-pending order cannot be cancelled"):
        call(
            ctx_for("james_li_5688"),
            "cancel_pending_order",
            order_id="#W2611340",
            reason="no longer needed",
        )


def test_the_executor_runs_the_change_once_and_refuses_a_second_time(store: None) -> None:
    ctx = ctx_for(ETHAN)
    done = execute(ctx, "cancel_pending_order", order_id="#W6779827", reason="no longer needed")

    assert done.data["status"] == "done"
    assert done.data["order"]["status"] == "cancelled"
    with pytest.raises(ToolError, match="Non-pending"):
        execute(ctx, "cancel_pending_order", order_id="#W6779827", reason="no longer needed")
    event = OrderAuditEvent.objects.get(outcome="done")
    assert (event.actor_kind, event.actor_id, event.conversation_id) == (
        "customer",
        ETHAN,
        ctx.conversation_id,
    )


def test_a_double_confirm_through_the_chat_executes_once(store: None) -> None:
    # given a conversation verified as Ethan with a proposed cancel
    conversation, _ = chat.do_create_conversation()
    chat.do_bind_customer(conversation.pk, ETHAN, "email_zip")
    proposal = call(
        ctx_for(ETHAN, conversation.pk),
        "cancel_pending_order",
        order_id="#W6779827",
        reason="ordered by mistake",
    )
    assert proposal.proposal is not None
    action = chat.do_propose_action(
        conversation.pk,
        turn_id=None,
        tool_name="cancel_pending_order",
        arguments={"order_id": "#W6779827", "reason": "ordered by mistake"},
        summary=proposal.proposal.summary,
        details=proposal.proposal.details,
    )
    balance = PaymentMethod.objects.get(id="gift_card_7219486").balance_cents or 0

    # when the confirm frame arrives twice
    first = chat.check_decide_action(conversation.pk, str(action.pk), "approve")
    with pytest.raises(chat.ChatError):
        chat.check_decide_action(conversation.pk, str(action.pk), "approve")

    # then the order is cancelled and refunded once
    assert first.executed
    assert PendingAction.objects.get(pk=action.pk).status == "done"
    order = Order.objects.get(order_id="#W6779827")
    assert order.status == "cancelled"
    assert order.transactions.count() == 2
    assert PaymentMethod.objects.get(id="gift_card_7219486").balance_cents == balance + 407945
    assert OrderAuditEvent.objects.filter(outcome="done").count() == 1


def test_a_declined_proposal_changes_nothing(store: None) -> None:
    conversation, _ = chat.do_create_conversation()
    chat.do_bind_customer(conversation.pk, ETHAN, "email_zip")
    action = chat.do_propose_action(
        conversation.pk,
        turn_id=None,
        tool_name="cancel_pending_order",
        arguments={"order_id": "#W6779827", "reason": "ordered by mistake"},
        summary="Cancel order #W6779827",
        details={},
    )

    chat.check_decide_action(conversation.pk, str(action.pk), "decline")

    assert Order.objects.get(order_id="#W6779827").status == "pending"
    assert not OrderAuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("customer", "tool", "arguments", "expected"),
    [
        (
            "harper_kovacs_8617",
            "modify_pending_order_address",
            {"order_id": "#W9093821", **ADDRESS},
            "Ship order #W9093821 to 1 Elm St, Austin, TX 78701, USA.",
        ),
        (
            ETHAN,
            "modify_pending_order_payment",
            {"order_id": "#W6779827", "payment_method_id": "credit_card_9789590"},
            "Refund: $4,079.45 back on your gift card",
        ),
        (
            ETHAN,
            "modify_user_address",
            {**ADDRESS, "address2": "Apt 4"},
            "Existing orders keep their shipping address.",
        ),
    ],
)
def test_summaries_say_plainly_what_changes(
    store: None, customer: str, tool: str, arguments: dict[str, str], expected: str
) -> None:
    result = call(ctx_for(customer), tool, **arguments)

    assert result.proposal is not None
    assert expected in result.proposal.summary


def test_a_return_summary_names_the_items_the_refund_and_its_method(store: None) -> None:
    order = Order.objects.get(order_id="#W1840144")
    original = order.transactions.order_by("position").first()
    assert original is not None

    result = call(
        ctx_for(order.customer_id),
        "return_delivered_order_items",
        order_id="#W1840144",
        item_ids=["8590708195"],
        payment_method_id=original.payment_method_id,
    )

    assert result.proposal is not None
    assert "$157.61" in result.proposal.summary
    assert "once the items are received" in result.proposal.summary
    assert Order.objects.get(order_id="#W1840144").status == "delivered"
