"""Run every benchmark module in its own process (each sets up Django on its own database)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    names = sorted(
        info.name
        for info in pkgutil.iter_modules([str(Path(__file__).parent)])
        if not info.name.startswith("_")
    )
    wanted = argv or names
    failed = []
    for name in wanted:
        print(f"== benchmarks.{name}", flush=True)
        result = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], check=False)  # noqa: S603
        if result.returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
