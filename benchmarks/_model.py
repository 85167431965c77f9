"""The fake model of `benchmarks.streaming`, in a process of its own.

    python -m benchmarks._model --ttft-ms 300 --token-ms 15 --words 80

The fake OpenAI server (tests/fake_openai/, the project's one model seam) answers
every chat completion like a model: the role chunk, `--ttft-ms` later the first word,
then a word every `--token-ms`. It records, per bench mark found in the request
(`bench-<12 hex>` in the customer's text), when the request arrived and when its first
token left, on the clock `now()`, which the benchmark's clients read too.

It runs apart from the benchmark's clients so that neither delays the other's
timestamps when one of them is busy (200 streams at 65 tokens/s is 13,000 chunks a
second on each side). It speaks on its standard streams: first one JSON line
`{"base_url": ..., "api_key": ...}`, then one JSON line in answer to each command line:
`plan N` queues N more answers, `timings` hands over (and forgets) what it recorded
since the last `timings`. Closing its standard input stops it.

`ModelProcess` is the benchmark's side of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from benchmarks._figures import Timings, now
from tests import fake_openai as fake

ROOT = Path(__file__).resolve().parent.parent
WORDS = str.split(
    "your parcel left our depot this morning and the courier expects to reach you by "
    "friday; the tracking page will show each scan as it moves. if the date slips, "
    "write back here and we can look at options such as a refund of the postage or a "
    "replacement sent by express. thanks for your patience while it travels"
)
MARK = re.compile(r"bench-([0-9a-f]{12})")


def answer_words(count: int) -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(count)]


class Recorder:
    """The model's timings, written on the server's thread and handed over on the main one."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.timings = Timings()

    def requested(self, key: str, at: float) -> None:
        with self.lock:
            self.timings.requested[key] = at

    def first_token(self, key: str, at: float) -> None:
        with self.lock:
            self.timings.first_token[key] = at

    def take(self) -> Timings:
        with self.lock:
            taken, self.timings = self.timings, Timings()
        return taken


class ModelStream:
    """One planned answer: the role chunk, `ttft` later the first word, then a word
    every `interval`; records when the request came and when its first token left."""

    def __init__(self, words: list[str], ttft: float, interval: float, recorder: Recorder):
        self.words, self.ttft, self.interval, self.recorder = words, ttft, interval, recorder

    async def respond(
        self, request: web.Request, body: fake.JsonDict, server: fake.FakeOpenAI
    ) -> web.StreamResponse:
        if not body.get("stream"):
            # As the API does: a request that streams nothing gets one JSON completion
            # (the input screen's, with its verdict). It is not the turn's model request.
            return web.json_response(self.completion(body, server.next_number()))
        arrived = now()
        # The customer's text may sit in any message (layers, wrapping, history): the
        # newest mark is this turn's.
        found = MARK.findall(json.dumps(body["messages"]))
        key = found[-1] if found else uuid.uuid4().hex
        self.recorder.requested(key, arrived)
        number = server.next_number()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        role = {"role": "assistant", "content": "", "refusal": None}
        await response.write(fake._sse(fake._chunk(body, number, [fake._choice(role)])))
        await asyncio.sleep(self.ttft)
        for index, word in enumerate(self.words):
            piece = word if index == 0 else " " + word
            if index == 0:
                self.recorder.first_token(key, now())
            chunk = fake._chunk(body, number, [fake._choice({"content": piece})])
            await response.write(fake._sse(chunk))
            await asyncio.sleep(self.interval)
        done = fake._chunk(body, number, [fake._choice({}, finish_reason="stop")])
        await response.write(fake._sse(done))
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = fake._usage_dict((500, len(self.words)))
            await response.write(fake._sse(fake._chunk(body, number, [], usage=usage)))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def completion(self, body: fake.JsonDict, number: int) -> fake.JsonDict:
        if body.get("response_format"):
            content = json.dumps(SCREEN_VERDICT)
        else:
            content = " ".join(self.words)
        return {
            "id": f"chatcmpl-bench{number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-4o-mini"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": fake._usage_dict((400, 30)),
        }


# What the input screen is told of a benchmark's ordinary question.
SCREEN_VERDICT = {"attack": False, "category": "none", "confidence": 0.02, "reason": "ordinary"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--token-ms", type=float, default=15.0)
    parser.add_argument("--ttft-ms", type=float, default=300.0)
    parser.add_argument("--words", type=int, default=80)
    args = parser.parse_args(argv)
    recorder = Recorder()
    stream = ModelStream(
        answer_words(args.words), args.ttft_ms / 1000, args.token_ms / 1000, recorder
    )
    # 200 chats may call at once: none should wait on a full accept queue.
    model = fake.FakeOpenAI(api_key="test-key", backlog=1024).start()
    print(json.dumps({"base_url": model.base_url, "api_key": model.api_key}), flush=True)
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "plan":
                model.script(*([stream] * int(argument)))
                answer: dict[str, object] = {"queued": model.remaining}
            elif command == "timings":
                taken = recorder.take()
                answer = {
                    "requested": taken.requested,
                    "first_token": taken.first_token,
                    "errors": model.errors[:20],
                }
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    finally:
        model.stop()
    return 0


class ModelProcess:
    """`python -m benchmarks._model` started and spoken to by the benchmark."""

    def __init__(self, words: int, ttft_ms: float, token_ms: float) -> None:
        self.process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "benchmarks._model",
                f"--words={words}",
                f"--ttft-ms={ttft_ms}",
                f"--token-ms={token_ms}",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own share of the CPU (streaming.py: `own_share`)
        )
        hello = self.ask(None)
        self.base_url, self.api_key = str(hello["base_url"]), str(hello["api_key"])
        self.errors: list[str] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    def ask(self, command: str | None) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake model process ended (exit {self.process.poll()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def env(self) -> dict[str, str]:
        """For a server that should talk to this model."""
        return {"OPENAI_API_KEY": self.api_key, "OPENAI_BASE_URL": self.base_url}

    def plan(self, answers: int) -> None:
        self.ask(f"plan {answers}")

    def collect(self, timings: Timings) -> None:
        """Add what the model recorded since the last call to `timings`."""
        answer = self.ask("timings")
        timings.requested.update(answer["requested"])
        timings.first_token.update(answer["first_token"])
        self.errors = [str(error) for error in answer["errors"]]

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
