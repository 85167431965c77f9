"""`python -m tests.fake_openai`: the fake server in a process of its own."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tests.fake_openai.responses import from_spec
from tests.fake_openai.server import FakeOpenAI


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the scripted fake OpenAI server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--script", type=Path, help="JSON list of response specs")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_key=args.api_key or None, port=args.port)
    if args.script:
        fake.script(*(from_spec(spec) for spec in json.loads(args.script.read_text())))
    fake.start()
    print(f"fake OpenAI server on {fake.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
