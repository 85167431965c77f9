"""Order skills of the local (offline) assistant: where is my order, my orders,
cancel, return. The assistant finds this module as it finds tools.py.

They use the same tools the real model gets, in the same order a careful agent
would: verify the customer (asking for email and zip code, or name and zip code,
when missing), look the order up, ask for what is still missing (the order, the
cancel reason, the items to return), then call the change tool, which only shows
the customer a confirmation card. When a tool answers, the result is explained in
plain words, refusals included.

The conversation is the memory: the order discussed earlier and the request the
customer is in the middle of are found again in the customer's and the
assistant's earlier messages.

Priorities: tool results (70) come before new requests (55); both sit above the
help-center skills (30-40), greetings (10) and the fallback.
"""

from __future__ import annotations

import re
from typing import Any

from apps.assistant.local.skills import LocalReply, LocalState, skill

# The shared recognisers: an email or zip code read here is one the provenance check accepts.
from apps.assistant.recognisers import EMAIL, ORDER_ID, ZIP, asks_for_human, order_ids_in

from .actions import CHANGE_ACTIONS
from .changes import ACTIONS

# The tools whose results these skills explain: every declared change among them.
ORDER_TOOLS = frozenset({"verify_customer", "list_my_orders", "get_order", *CHANGE_ACTIONS})

_NAME_INTRO = re.compile(
    r"(?i)\b(?:my name is|name's|i am|i'm|this is|it's)\s+([A-Za-z][A-Za-z'-]+)\s+"
    r"([A-Za-z][A-Za-z'-]+)"
)

_CANCEL = re.compile(r"(?i)\bcancel")
_RETURN = re.compile(r"(?i)\b(return|send (?:it|them|this|these) back|refund)\b")
_TRACK = re.compile(
    r"(?i)\b(where(?:'s| is| are)|status|track|tracking|arriv|deliver|ship(?:s|ped)?|"
    r"when will)\b|\border\s*#?w\d"
)
_LIST = re.compile(
    r"(?i)\b(my orders|all (?:of )?my orders|list (?:my )?orders|orders do i have)\b"
)

_GENERAL_QUESTION = re.compile(
    r"(?i)^\s*(?:how|what|when|why|which|is|are|does|do|will|would|should|can i|could i)\b"
)
_ORDER_NOUN = r"(?:orders?|packages?|parcels?|purchases?|shipments?)"
# Words that make a message about an order even without its number.
_ABOUT_ORDER = re.compile(rf"(?i)\b{_ORDER_NOUN}\b|\bi (?:ordered|bought|purchased)\b")
# "my order", "my last two packages", "i bought": the customer's own order, in a question too.
_MY_ORDER = re.compile(
    rf"(?i)\b(?:my|mine)\b(?:\W+[a-z-]+){{0,3}}?\W+{_ORDER_NOUN}\b"
    r"|\bi (?:ordered|bought|purchased)\b"
)
_REFERS_BACK = re.compile(r"(?i)\b(it|this|that|them|these|those|this one|that one)\b")

_NO_LONGER = re.compile(r"(?i)\b(no longer|don'?t need|do not need|not needed|don'?t want)\b")
_MISTAKE = re.compile(r"(?i)\b(mistake|by accident|accidental|wrong|mistakenly|accidentally)\b")
_ALL_ITEMS = re.compile(r"(?i)\b(all|everything|every item|whole order|entire order)\b")

_STOP_WORDS = frozenset(
    {"hi", "hello", "hey", "my", "name", "is", "i", "am", "im", "it's", "its", "this", "and"}
    | {"zip", "code", "email", "postal", "the", "a", "here", "you", "go", "thanks", "please"}
)
MAX_CARRY_MESSAGES = 4
# Our own questions that wait for a missing fact; only after one does a reply continue a request.
_ASKING = re.compile(
    r"email address on your account|try again with your email|Which order do you mean|"
    r"check the order number|What's the reason|Which items from order"
)


# --------------------------------------------------------------------------- reading


def intent_of(text: str, *, order_in_context: bool = False) -> str | None:
    """The order intent of one message: cancel, return, track, list, or none.

    A message is about an order when it names one (#W...), when an order verb
    comes with "order", "package", "purchase"..., or when it follows up on the
    order being discussed (`order_in_context`: "cancel it"). A general question
    ("how long does a refund to my credit card take?") is for the help center
    unless it is about the customer's own order.
    """
    if asks_for_human(text):
        return None
    named = ORDER_ID.search(text) is not None
    if _CANCEL.search(text):
        verb: str | None = "cancel"
    elif _RETURN.search(text):
        verb = "return"
    elif _LIST.search(text) and not named:
        return "list"
    elif _TRACK.search(text) or named:
        verb = "track"
    else:
        return None
    if named:
        return verb
    if _GENERAL_QUESTION.match(text):
        if _MY_ORDER.search(text) or (order_in_context and _REFERS_BACK.search(text)):
            return verb
        return None  # "how do returns work?" is for the help center
    if _ABOUT_ORDER.search(text) or order_in_context:
        return verb
    return None


def current_intent(state: LocalState) -> tuple[str | None, int]:
    """The request the customer is making now, and the index of the message that made it.

    A message without an intent ("john@example.com 12345", "no longer needed")
    continues the latest one, but only while we are waiting for an answer to our
    own question, so a "thanks" after a finished request starts nothing.
    """
    texts = state.user_texts
    if not texts:
        return None, -1
    in_context = _order_in_context(state)
    intent = intent_of(texts[-1], order_in_context=in_context)
    if intent is not None:
        return intent, len(texts) - 1
    last_asked = state.assistant_texts[-1] if state.assistant_texts else ""
    if not _ASKING.search(last_asked):
        return None, -1
    for index in range(len(texts) - 2, max(-1, len(texts) - 1 - MAX_CARRY_MESSAGES), -1):
        intent = intent_of(texts[index], order_in_context=in_context)
        if intent is not None:
            return intent, index
    return None, -1


def _order_in_context(state: LocalState) -> bool:
    """Whether an order is being discussed, so "cancel it" is a follow-up about it."""
    earlier = [*state.assistant_texts[-3:], *state.user_texts[:-1]]
    return any(ORDER_ID.search(text) for text in earlier)


def remembered_order_id(state: LocalState) -> str | None:
    """The order being discussed: named now, or earlier by the customer or by us."""
    for text in [
        state.user_text,
        *reversed(state.assistant_texts[-3:]),
        *reversed(state.user_texts[:-1]),
    ]:
        found = order_ids_in(text)
        if found:
            return found[-1]
    return None


def identity_details(text: str) -> dict[str, str | None] | None:
    """verify_customer arguments from a message, when it holds enough to try."""
    cleaned = ORDER_ID.sub(" ", text)
    email_match = EMAIL.search(cleaned)
    zip_match = ZIP.search(EMAIL.sub(" ", cleaned))
    if zip_match is None:
        return None
    details: dict[str, str | None] = {
        "email": None,
        "first_name": None,
        "last_name": None,
        "zip": zip_match.group(1),
    }
    if email_match is not None:
        details["email"] = email_match.group(0)
        return details
    intro = _NAME_INTRO.search(cleaned)
    if intro is not None:
        details["first_name"], details["last_name"] = intro.group(1), intro.group(2)
        return details
    words = [
        w
        for w in re.findall(r"[A-Za-z][A-Za-z'-]*", ZIP.sub(" ", cleaned))
        if w.lower() not in _STOP_WORDS
    ]
    if len(words) == 2:
        details["first_name"], details["last_name"] = words
        return details
    return None


def cancel_reason(texts: list[str]) -> str | None:
    for text in reversed(texts):
        if _MISTAKE.search(text):
            return "ordered by mistake"
        if _NO_LONGER.search(text):
            return "no longer needed"
    return None


def items_to_return(order: dict[str, Any], texts: list[str]) -> list[str]:
    """The item ids the customer named (by product name or id) among the order's items."""
    items = order.get("items") or []
    said = " ".join(texts).lower()
    if _ALL_ITEMS.search(said):
        return [str(item["item_id"]) for item in items]
    chosen: list[str] = []
    for item in items:
        name = str(item.get("name", "")).lower()
        named = bool(name) and (name in said or name.rstrip("s") + "s" in said)
        if (named or str(item["item_id"]) in said) and item["item_id"] not in chosen:
            chosen.append(str(item["item_id"]))
    return chosen


# --------------------------------------------------------------------------- speaking


def _item_text(item: dict[str, Any]) -> str:
    options = ", ".join(str(v) for v in (item.get("options") or {}).values())
    return f"{item.get('name', 'item')} ({options})" if options else str(item.get("name", "item"))


def _items_text(order: dict[str, Any]) -> str:
    return "; ".join(_item_text(item) for item in order.get("items") or [])


# One sentence per status: the status said once, in words ("Order #W1 has been delivered.",
# not "Order #W1 is delivered. It has been delivered.").
_STATUS_SENTENCE = {
    "pending": "Order {id} is pending. It hasn't shipped yet, so it can still be changed or "
    "cancelled.",
    "pending (item modified)": "Order {id} is pending. It hasn't shipped yet; its items were "
    "already changed once.",
    "processed": "Order {id} is being prepared and will ship soon.",
    "delivered": "Order {id} has been delivered.",
    "cancelled": "Order {id} was cancelled.",
    "return requested": "A return has been requested for order {id}.",
    "exchange requested": "An exchange has been requested for order {id}.",
}


def describe_order(order: dict[str, Any]) -> str:
    status = str(order.get("status", "unknown"))
    sentence = _STATUS_SENTENCE.get(status, "Order {id} is {status}.")
    lines = [sentence.format(id=order.get("order_id"), status=status)]
    lines.append(f"Items: {_items_text(order)}.")
    tracking = [t for f in order.get("fulfillments") or [] for t in f.get("tracking_ids") or []]
    if tracking:
        lines.append(f"Tracking number: {', '.join(tracking)}.")
    return " ".join(lines)


def describe_orders(orders: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{o['order_id']} ({o['status']}: {', '.join(o.get('items') or [])})" for o in orders
    )


ASK_IDENTITY = (
    "I can help with that. First I need to confirm who you are: what's the email address "
    "on your account and your zip code? (Your first and last name with your zip code work "
    "too.)"
)


def _error_of(data: Any) -> str | None:
    if isinstance(data, dict) and data.get("error"):
        return str(data["error"])
    return None


# --------------------------------------------------------------------------- the next step


def _next_step(state: LocalState, *, verified: bool) -> LocalReply | None:
    """What to do for the current request, given what we know now."""
    intent, since = current_intent(state)
    if intent is None:
        return None
    if not verified:
        for text in reversed(state.user_texts[since:]):
            details = identity_details(text)
            if details is not None and state.can_call("verify_customer"):
                return LocalReply.call("verify_customer", **details)
        return LocalReply(text=ASK_IDENTITY)
    if intent == "list":
        return LocalReply.call("list_my_orders")
    order_id = remembered_order_id(state)
    if order_id is None:
        return LocalReply.call("list_my_orders")
    return LocalReply.call("get_order", order_id=order_id)


CARD_PROMPT = "on the card"  # every reply about an open confirmation card says it
_AGREES = re.compile(
    r"(?i)^\s*(y|yes|yeah|yep|yup|sure|ok(ay)?|confirm(ed)?|correct|right|do it|go ahead|"
    r"please do|that'?s (right|correct|it)|sounds good|approved?)\b"
)
_DECLINES = re.compile(r"(?i)^\s*(n|no|nope|nah|don'?t|do not|never ?mind|wait|stop)\b")


@skill(priority=80)
def answer_about_the_card(state: LocalState) -> LocalReply | None:
    """Typing "yes" under a confirmation card: only the customer's click on it counts."""
    if state.tool_outputs or not state.assistant_texts:
        return None
    if CARD_PROMPT not in state.assistant_texts[-1]:
        return None
    if _AGREES.match(state.user_text):
        return LocalReply(
            text="Thanks! To make the change, please press **Confirm** on the card above. "
            "I can't confirm it for you: only your click on the card carries it out."
        )
    if _DECLINES.match(state.user_text):
        return LocalReply(
            text="No problem. Press **Decline** on the card, or simply leave it: nothing "
            "changes without your confirmation. Is there anything else I can help with?"
        )
    return None


@skill(priority=55)
def order_request(state: LocalState) -> LocalReply | None:
    """A new customer message about their orders."""
    if state.tool_outputs:
        return None
    return _next_step(state, verified=state.verified)


@skill(priority=70)
def order_tool_result(state: LocalState) -> LocalReply | None:
    """Explain or continue after one of the order tools answered."""
    output = state.last_output()
    if output is None or output.name not in ORDER_TOOLS:
        return None
    data = output.data
    intent, since = current_intent(state)
    recent = state.user_texts[since:] if since >= 0 else state.user_texts[-1:]

    if isinstance(data, dict) and data.get("confirmation") not in (None, "requested"):
        return _after_confirmation(output.name, data)
    if isinstance(data, dict) and data.get("confirmation") == "requested":
        # The card shows the summary; the reply only says what to do with it.
        return LocalReply(
            text="I've prepared the change below. Nothing has changed yet: please review it "
            "and press Confirm on the card if it's right, or Decline if not."
        )

    if output.name == "verify_customer":
        return _after_verification(state, data)

    error = _error_of(data)
    if error is not None:
        if output.name == "get_order" and "not found" in error:
            return LocalReply(
                text=f"I couldn't find order {output.arguments.get('order_id')} on your "
                "account. Could you check the order number? It looks like #W1234567."
            )
        return LocalReply(text=f"I couldn't do that: {error} Is there anything else I can try?")

    if output.name == "list_my_orders":
        orders = (data or {}).get("orders") or []
        if not orders:
            return LocalReply(text="I don't see any orders on your account.")
        if intent in {"cancel", "return", "track"}:
            return LocalReply(
                text=f"Which order do you mean? Your orders: {describe_orders(orders)}. "
                "Which order number should I use?"
            )
        return LocalReply(text=f"You have {len(orders)} orders: {describe_orders(orders)}.")

    if output.name == "get_order" and isinstance(data, dict):
        if intent == "cancel":
            return _cancel_step(state, data, recent)
        if intent == "return":
            return _return_step(state, data, recent)
        return LocalReply(text=describe_order(data))
    return None


def _after_verification(state: LocalState, data: Any) -> LocalReply:
    if isinstance(data, dict) and data.get("verified"):
        step = _next_step(state, verified=True)
        if step is not None and (not step.tool_calls or state.can_call(step.tool_calls[0][0])):
            return step
        name = data.get("first_name") or ""
        return LocalReply(
            text=f"Thanks{', ' + str(name) if name else ''}, you're verified. How can I help "
            "with your orders?"
        )
    left = data.get("attempts_left") if isinstance(data, dict) else None
    if left == 0:
        return LocalReply(
            text="I'm sorry, I couldn't verify your identity, and I can't try again in this "
            'chat. I can connect you with a person who can help: just say "talk to a human".'
        )
    error = _error_of(data) or "Those details don't match an account."
    return LocalReply(
        text=f"{error} Could you check them and try again with your email and zip code, or "
        "your first and last name and zip code?"
    )


def _allowed(action: str, status: Any) -> bool:
    """Whether the order's status allows the action, by the action's own declaration."""
    needs = ACTIONS[action].needs
    return needs is None or needs.allows(str(status))


def _cancel_step(state: LocalState, order: dict[str, Any], recent: list[str]) -> LocalReply:
    order_id = order.get("order_id")
    status = order.get("status")
    if not _allowed("cancel_pending_order", status):
        extra = " You can return items from it instead." if status == "delivered" else ""
        return LocalReply(
            text=f"Order {order_id} is {status}, so it can't be cancelled: only pending "
            f"orders can.{extra}"
        )
    reason = cancel_reason(recent)
    if reason is None:
        return LocalReply(
            text=f"Order {order_id} ({_items_text(order)}) can be cancelled. What's the reason: "
            "is it no longer needed, or was it ordered by mistake?"
        )
    if not state.can_call("cancel_pending_order"):
        return LocalReply(text="I can't make that change from here; a person can help.")
    return LocalReply.call("cancel_pending_order", order_id=order_id, reason=reason)


def _return_step(state: LocalState, order: dict[str, Any], recent: list[str]) -> LocalReply:
    order_id = order.get("order_id")
    status = order.get("status")
    if not _allowed("return_delivered_order_items", status):
        return LocalReply(
            text=f"Order {order_id} is {status}, so it can't be returned: only delivered "
            "orders can."
        )
    item_ids = items_to_return(order, recent)
    if not item_ids:
        names = ", ".join(str(item.get("name")) for item in order.get("items") or [])
        return LocalReply(
            text=f"Which items from order {order_id} would you like to return: {names}? "
            'You can also say "all of them".'
        )
    payments = order.get("payments") or []
    if not payments or not state.can_call("return_delivered_order_items"):
        return LocalReply(text="I can't set up that return from here; a person can help.")
    # The refund goes back to the original payment method unless the customer asks otherwise.
    return LocalReply.call(
        "return_delivered_order_items",
        order_id=order_id,
        item_ids=item_ids,
        payment_method_id=payments[0]["payment_method_id"],
    )


def _after_confirmation(tool_name: str, data: dict[str, Any]) -> LocalReply:
    # The card above shows the change and its outcome; the reply does not repeat them.
    status = data.get("confirmation")
    if status == "done":
        return LocalReply(text="All set. Is there anything else I can help with?")
    if status == "declined":
        return LocalReply(text="No problem, I've left everything as it was.")
    if status == "expired":
        return LocalReply(
            text="That confirmation expired, so nothing was changed. Tell me if you'd still "
            "like to go ahead."
        )
    return LocalReply(
        text="I'm sorry, that change didn't go through (the card above says why), so nothing "
        "was changed. Tell me if you'd like to try something else."
    )
