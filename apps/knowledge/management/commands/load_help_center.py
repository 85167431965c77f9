from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.knowledge.services import ARTICLES_DIR, do_load_help_center


class Command(BaseCommand):
    help = "Load the demo help-center articles (Markdown files). Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dir", type=Path, default=ARTICLES_DIR, help="article directory")
        parser.add_argument(
            "--update",
            action="store_true",
            help="also rewrite existing articles that differ from their files",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = do_load_help_center(options["dir"], update=options["update"])
        self.stdout.write(
            f"Help center: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged."
        )
