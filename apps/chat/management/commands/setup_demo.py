"""First-run set-up for `make run`: demo data, staff groups, logins, and the URLs."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandParser

from apps.chat.roles import AGENTS, MANAGERS, ensure_groups

DEMO_STAFF = [
    # username, first name, last name, group (None: superuser)
    ("admin", "Ada", "Admin", None),
    ("agent", "Alex", "Rivera", AGENTS),
    ("agent2", "Sam", "Chen", AGENTS),
    ("manager", "Morgan", "Lee", MANAGERS),
]


class Command(BaseCommand):
    help = "Load the demo store and help center on first use, create demo staff, print logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", default="8000")

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.orders.models import Customer

        if not Customer.objects.exists():
            self.stdout.write("Loading the demo store (first run)…")
            call_command("load_demo_store", verbosity=0)
        commands = get_commands()
        if "load_help_center" in commands:
            call_command("load_help_center", verbosity=0)
        groups = ensure_groups()
        logins = []
        user_model = get_user_model()
        for username, first, last, group in DEMO_STAFF:
            user, _ = user_model.objects.get_or_create(username=username)
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@example.com"
            user.is_staff = True
            user.is_superuser = group is None
            user.save()
            if group is not None:
                user.groups.set([groups[group]])
            logins.append((username, password, group or "superuser"))
        # After the staff exist, so seeded hand-offs are attributed to the demo agents.
        if "seed_demo_conversations" in commands:
            from apps.chat.models import Conversation

            if not Conversation.objects.exists():
                self.stdout.write("Seeding 30 days of demo conversations (first run)…")
                call_command("seed_demo_conversations", days=30, verbosity=0)
        base = f"http://{options['host']}:{options['port']}"
        assistant = (
            f"OpenAI {settings.SUPPORTBOT_MODEL}"
            if settings.OPENAI_API_KEY
            else "the built-in offline assistant (set OPENAI_API_KEY for gpt-4o-mini)"
        )
        lines = [
            "",
            "supportbot is ready.",
            f"  Customer chat:  {base}/",
            *(
                [f"  Demo store:     {base}/demo-store/  (the embedded messenger)"]
                if settings.SUPPORTBOT_DEMO_STORE
                else []
            ),
            f"  Admin:          {base}/admin/",
            f"  Help center:    {base}/help/",
            "  Demo logins (new passwords on every run):",
            *(f"    {name:<8} {password:<14} {role}" for name, password, role in logins),
            f"  Assistant: {assistant}",
            "",
        ]
        self.stdout.write("\n".join(lines))
