"""Every state change of a hand-off, one module per concern. Tools, consumers, views
and tasks call these through this package (`from apps.escalations import services`).

- handoff: queue, claim, take over, transfer, hand back, close, notes. The change of
  owner itself (a conditional update, the hand-off event, its publish) is
  apps.chat.ownership; the conversation's row lock is Conversation.objects.lock. The
  notices the customer sees during a hand-off are apps.chat.events.do_tell_customer.
- presence: who is online, may take a conversation, and how many they hold.
- chat_hooks: what happens on chat's signals (connected in ../apps.py).
- email_offer: continuing by email instead of waiting.
- notifications: the hand-over summary, emails to agents, the SLA sweep.
- console: live events for staff after commit, and the escalation's event log.
- queries: reading the queue and the console's cards.

Background work is stored in the outbox (apps.outbox.services.enqueue, by task name) in
the same transaction and sent after commit, so no module here imports ../tasks.py.
"""

from __future__ import annotations

from .chat_hooks import (
    OFFER_TEXT,
    POSITION_NOTICE_EVERY,
    PROVIDER_FAILURE_CODES,
    do_offer_handoff,
    on_customer_message,
    on_turn_failed,
)
from .console import (
    CONSOLE_GROUP,
    ConsoleEvent,
    console_group,
    publish_console,
)
from .email_offer import (
    do_offer_email,
    do_record_email_request,
    email_offer_text,
    should_offer_email,
)
from .handoff import (
    JOINED_TEXT,
    QUEUED_TEXT,
    REQUEUED_TEXT,
    RETURNED_NOTHING_PENDING_TEXT,
    RETURNED_TEXT,
    TRANSFERRED_TEXT,
    check_claim,
    check_take_over,
    check_transfer,
    customer_identity,
    do_add_note,
    do_agent_message,
    do_close,
    do_escalate,
    do_hand_back,
    handled_by_agent_seq,
    held_by,
    on_conversation_closed,
    tool_turns,
    trigger_for_tool,
)
from .notifications import (
    STRANDED_TEXT,
    TRANSIENT_PROVIDER_CODES,
    agent_recipients,
    console_path,
    do_notify_agents,
    do_renotify,
    do_requeue_stranded,
    do_summarise,
    due_renotifications,
    due_requeues,
)
from .presence import (
    ONLINE_WINDOW,
    agent_capacity,
    agent_load,
    do_agent_connected,
    do_agent_disconnected,
    do_agent_seen,
    do_set_presence,
    holds_escalation_permission,
    is_agent,
    is_available,
    may_take_escalations,
    online_agents,
)
from .queries import (
    DEFAULT_WAIT_PER_POSITION,
    PRIORITIES,
    EscalationCard,
    EscalationError,
    agent_name,
    escalation_card,
    expected_wait,
    holder_name,
    open_escalation,
    queue_position,
    queued_escalations,
)

__all__ = [
    "CONSOLE_GROUP",
    "DEFAULT_WAIT_PER_POSITION",
    "JOINED_TEXT",
    "OFFER_TEXT",
    "ONLINE_WINDOW",
    "POSITION_NOTICE_EVERY",
    "PRIORITIES",
    "PROVIDER_FAILURE_CODES",
    "QUEUED_TEXT",
    "REQUEUED_TEXT",
    "RETURNED_NOTHING_PENDING_TEXT",
    "RETURNED_TEXT",
    "STRANDED_TEXT",
    "TRANSFERRED_TEXT",
    "TRANSIENT_PROVIDER_CODES",
    "ConsoleEvent",
    "EscalationCard",
    "EscalationError",
    "agent_capacity",
    "agent_load",
    "agent_name",
    "agent_recipients",
    "check_claim",
    "check_take_over",
    "check_transfer",
    "console_group",
    "console_path",
    "customer_identity",
    "do_add_note",
    "do_agent_connected",
    "do_agent_disconnected",
    "do_agent_message",
    "do_agent_seen",
    "do_close",
    "do_escalate",
    "do_hand_back",
    "do_notify_agents",
    "do_offer_email",
    "do_offer_handoff",
    "do_record_email_request",
    "do_renotify",
    "do_requeue_stranded",
    "do_set_presence",
    "do_summarise",
    "due_renotifications",
    "due_requeues",
    "email_offer_text",
    "escalation_card",
    "expected_wait",
    "handled_by_agent_seq",
    "held_by",
    "holder_name",
    "holds_escalation_permission",
    "is_agent",
    "is_available",
    "may_take_escalations",
    "on_conversation_closed",
    "on_customer_message",
    "on_turn_failed",
    "online_agents",
    "open_escalation",
    "publish_console",
    "queue_position",
    "queued_escalations",
    "should_offer_email",
    "tool_turns",
    "trigger_for_tool",
]
