"""Conversations for `benchmarks.streaming`'s idle sockets, made in bulk.

    python -m benchmarks._conversations COUNT      (in the stack's environment)

Prints one `id token` line per conversation. Thousands of them through the API
would be thousands of rate-limited requests queued on Django's sync thread; one
bulk insert of the same rows (token stored hashed, as the API stores it) takes a
second.
"""

from __future__ import annotations

import os
import secrets
import sys


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportbot.settings")
    import django

    django.setup()
    from apps.chat.models import Conversation
    from apps.chat.services import hash_token

    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    made = Conversation.objects.bulk_create(
        [Conversation(token_hash=hash_token(token), client_key="bench") for token in tokens],
        batch_size=500,
    )
    lines = (f"{row.pk} {token}\n" for row, token in zip(made, tokens, strict=True))
    sys.stdout.write("".join(lines))


if __name__ == "__main__":
    main(int(sys.argv[1]))
