from __future__ import annotations

import logging
from typing import Any

from django.core.management.base import BaseCommand

from apps.knowledge.embeddings import do_embed_help_center, embeddings_enabled, model_name
from apps.knowledge.examples import do_embed_examples


class Command(BaseCommand):
    help = (
        "Embed every published help-center section and question missing from the cache "
        "(needs OPENAI_API_KEY). Safe to run again: unchanged texts are never re-sent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not embeddings_enabled():
            self.stdout.write(
                "No OPENAI_API_KEY (or SUPPORTBOT_HELP_EMBEDDINGS is off): nothing to embed; "
                "the offline search needs no embeddings."
            )
            return
        for name in ("httpx", "httpx2", "openai"):  # a log line per embedding call otherwise
            logging.getLogger(name).setLevel(logging.WARNING)
        count = do_embed_help_center() + do_embed_examples()
        self.stdout.write(f"Help center embeddings ({model_name()}): {count} new.")
