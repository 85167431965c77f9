from __future__ import annotations

from django.db import migrations

REPLIES = [
    (
        "Greeting",
        "Hi {customer_first_name}, I'm {agent_first_name} from the support team. "
        "I've read your conversation so far. Let me take it from here.",
    ),
    (
        "Verify identity",
        "Before I can look at your orders, could you confirm the email address on your "
        "account and the zip code of your default address?",
    ),
    (
        "Checking",
        "Thanks for your patience, I'm checking this for you now. It will take a minute or two.",
    ),
    (
        "Refund timing",
        "Refunds to a gift card are immediate; refunds to a card or PayPal take 5 to 7 "
        "business days to show up.",
    ),
    (
        "Anything else",
        "Is there anything else I can help you with today? If not, I'll hand you back to "
        "our assistant, which is available around the clock.",
    ),
]


def add(apps, schema_editor):
    CannedReply = apps.get_model("escalations", "CannedReply")
    for position, (title, text) in enumerate(REPLIES):
        CannedReply.objects.get_or_create(title=title, defaults={"text": text, "position": position})


def remove(apps, schema_editor):
    CannedReply = apps.get_model("escalations", "CannedReply")
    CannedReply.objects.filter(title__in=[title for title, _ in REPLIES]).delete()


class Migration(migrations.Migration):
    dependencies = [("escalations", "0001_initial")]

    operations = [migrations.RunPython(add, remove)]
