from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.orders.services import export_store


class Command(BaseCommand):
    help = "Print the whole store as JSON in db.json's shape (products, users, orders)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--indent", type=int, default=None, help="pretty-print with N spaces")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(export_store(), indent=options["indent"], ensure_ascii=False))
