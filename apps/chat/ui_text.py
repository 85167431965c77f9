"""The chat page's own words that its script shows, translated on the server with
Django's i18n and handed to the page as JSON (chat.js `t(key, values)`).
`{name}`-style placeholders are filled in the page."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

UI_TEXT = {
    "connection_lost": _("Connection lost. Reconnecting…"),
    "resume_failed": _("Your earlier chat could not be resumed, so a new one was started."),
    "start_failed": _("We couldn't start the chat. Please reload the page in a moment."),
    "welcome": _("Hi! Ask me about your orders or our store policies."),
    "identity_refused": _(
        "We couldn't confirm your store sign-in, so you're chatting as a guest. "
        "To look up an order, I'll ask for your email and zip code."
    ),
    "ai_label": _("{name} (AI assistant)"),
    "agent_label": _("{name} (support team)"),
    "support_team": _("Support team"),
    "support_team_closed": _("Support team · chat closed"),
    "sending": _("Sending…"),
    "typing": _("{name} is typing…"),
    "assistant_typing": _("Assistant is typing…"),
    "suggested": _("Suggested questions"),
    "signed_in": _("Signed in as {name}"),
    "photo_you_sent": _("Photo you sent"),
    "photo_type": _("Please send a photo (JPEG, PNG, WebP or GIF)."),
    "photo_too_large": _("That photo is too large. The limit is {n} MB."),
    "photo_failed": _("The photo could not be sent. Please try again."),
    "sources": _("Sources:"),
    "retry": _("Retry"),
    "went_wrong": _("Something went wrong."),
    "confirm_title": _("Please confirm this change"),
    "confirm": _("Confirm"),
    "decline": _("Decline"),
    "row_order": _("Order"),
    "row_status": _("Status"),
    "row_reason": _("Reason"),
    "row_refund": _("Refund"),
    "row_price_difference": _("Price difference"),
    "queued": _("You're in the queue for a person from our support team."),
    "joined": _("{name} joined the chat."),
    "an_agent": _("An agent"),
    "returned_to_bot": _("You're back with the AI assistant."),
    "closed": _("This conversation was closed."),
    "position": _("Position in queue: {n}."),
    "rating_title": _("How did we do?"),
    "rating_group": _("Rating from 1 to 5"),
    "rating_star": _("{n} out of 5"),
    "rating_comment": _("Anything to add? (optional)"),
    "comment": _("Comment"),
    "send_rating": _("Send rating"),
    "rating_thanks": _("Thanks for your feedback ({n}/5)!"),
    "launcher_open": _("Open support chat"),
    "launcher_close": _("Close support chat"),
    "launcher_unread_one": _("Open support chat, 1 unread reply"),
    "launcher_unread_many": _("Open support chat, {n} unread replies"),
}


def ui_text() -> dict[str, str]:
    """The strings in the active language."""
    return {key: str(value) for key, value in UI_TEXT.items()}
