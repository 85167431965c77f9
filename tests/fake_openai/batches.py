"""Files and batches (the Batch API, for apps.reports' nightly analysis).

Enough of /v1/files and /v1/batches for the openai client: upload a JSONL file,
create a batch on it, retrieve it, download its output. A batch stays
"in_progress" until a test sets `fake.batch_answer`, a function from one request
body to the answer's JSON content (a dict) or to an Exception for a failed line;
the next retrieve then runs every line through it and completes the batch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tests.fake_openai.responses import JsonDict, _usage_dict
from tests.openai_contract import check_request

if TYPE_CHECKING:
    from tests.fake_openai.server import FakeOpenAI


@dataclass
class BatchState:
    files: dict[str, bytes] = field(default_factory=dict)
    batches: dict[str, JsonDict] = field(default_factory=dict)


def _batch_state(fake: FakeOpenAI) -> BatchState:
    state = getattr(fake, "_batch_state", None)
    if state is None:
        state = BatchState()
        fake._batch_state = state  # type: ignore[attr-defined]
    return state


def add_batch_routes(app: web.Application, fake: FakeOpenAI) -> None:
    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        content = upload.file.read() if isinstance(upload, web.FileField) else b""
        file_id = f"file-fake{fake.next_number()}"
        _batch_state(fake).files[file_id] = content
        return web.json_response(_file_card(file_id, len(content), str(form.get("purpose", ""))))

    async def content(request: web.Request) -> web.Response:
        data = _batch_state(fake).files.get(request.match_info["file_id"])
        if data is None:
            return web.json_response({"error": {"message": "no such file"}}, status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        fake.requests.append({"batch": body})
        batch_id = f"batch_fake{fake.next_number()}"
        batch: JsonDict = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body["completion_window"],
            "status": "in_progress",
            "created_at": int(time.time()),
            "output_file_id": None,
            "error_file_id": None,
            "metadata": body.get("metadata"),
        }
        _batch_state(fake).batches[batch_id] = batch
        return web.json_response(batch)

    async def retrieve(request: web.Request) -> web.Response:
        state = _batch_state(fake)
        batch = state.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response({"error": {"message": "no such batch"}}, status=404)
        answer = getattr(fake, "batch_answer", None)
        if batch["status"] == "in_progress" and answer is not None:
            lines = state.files[batch["input_file_id"]].decode().splitlines()
            requests = [json.loads(line) for line in lines if line.strip()]
            for request_line in requests:
                invalid = check_request(request_line["body"])
                if invalid is not None and not fake.refusals_expected:
                    fake.errors.append(
                        f"batch line {request_line['custom_id']} breaks OpenAI's contract: "
                        f"{invalid.message}"
                    )
            output = [_batch_line(request_line, answer) for request_line in requests]
            output_id = f"file-fake{fake.next_number()}"
            state.files[output_id] = ("\n".join(output) + "\n").encode()
            batch.update(status="completed", output_file_id=output_id)
        return web.json_response(batch)

    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{file_id}/content", content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches/{batch_id}", retrieve)


def _file_card(file_id: str, size: int, purpose: str) -> JsonDict:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": int(time.time()),
        "filename": "input.jsonl",
        "purpose": purpose,
        "status": "processed",
    }


def _batch_line(request_line: JsonDict, answer: Callable[[JsonDict], Any]) -> str:
    custom_id = request_line["custom_id"]
    invalid = check_request(request_line["body"])
    if invalid is not None:
        # The Batch API answers a line OpenAI refuses with that line's 400.
        return json.dumps(
            {
                "custom_id": custom_id,
                "response": {"status_code": 400, "body": invalid.body()},
                "error": None,
            }
        )
    result = answer(request_line["body"])
    if isinstance(result, Exception):
        line: JsonDict = {
            "custom_id": custom_id,
            "response": None,
            "error": {"code": "server_error", "message": str(result)},
        }
    else:
        line = {
            "custom_id": custom_id,
            "response": {
                "status_code": 200,
                "body": {
                    "object": "chat.completion",
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": json.dumps(result)},
                        }
                    ],
                    "usage": _usage_dict((300, 40)),
                },
            },
            "error": None,
        }
    return json.dumps(line)
