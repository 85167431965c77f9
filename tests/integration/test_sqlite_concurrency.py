"""The embedded default under load: 50 chats at once on SQLite, however it is named."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from tests.servers import ROOT, child_env, daphne

pytestmark = [pytest.mark.integration]

CHATS = 50


async def one_chat(base: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/conversations/") as response:
            assert response.status == 201, await response.text()
            created = await response.json()
        url = base.replace("http", "ws") + (
            f"/ws/chat/{created['conversation_id']}/?token={created['token']}"
        )
        async with http.ws_connect(url, headers={"Origin": base}) as ws:
            await ws.send_json({"type": "message", "client_id": str(uuid.uuid4()), "text": "hello"})
            while True:
                frame = json.loads((await ws.receive(timeout=90)).data)
                assert frame["type"] != "error", frame
                if frame["type"] == "message" and frame["role"] == "assistant":
                    return frame


def test_fifty_chats_at_once_on_a_sqlite_url_all_get_their_stored_reply(tmp_path: Path) -> None:
    # given the embedded default spelled as a URL, as a child process or a user sets it
    database = f"sqlite:///{tmp_path / 'chat.sqlite3'}"
    limits = "1000"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=child_env(
            database, SUPPORTBOT_RATE_CONVERSATIONS=limits, SUPPORTBOT_RATE_MESSAGES=limits
        ),
        check=True,
        timeout=300,
    )
    with daphne(
        tmp_path,
        database=database,
        SUPPORTBOT_RATE_CONVERSATIONS=limits,
        SUPPORTBOT_RATE_MESSAGES=limits,
    ) as base:
        # when fifty customers write at the same moment
        async def all_chats() -> list[dict]:
            return await asyncio.gather(*(one_chat(base) for _ in range(CHATS)))

        replies = asyncio.run(all_chats())

    # then every one gets a stored reply, and SQLite never refused a writer
    assert len(replies) == CHATS and all(reply["seq"] > 0 for reply in replies)
    log = "".join(path.read_text(errors="replace") for path in tmp_path.glob("daphne-*.log"))
    assert "database is locked" not in log
    assert "Traceback" not in log
    with sqlite3.connect(tmp_path / "chat.sqlite3") as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        (stored,) = db.execute(
            "SELECT count(*) FROM chat_message WHERE role = 'assistant'"
        ).fetchone()
    assert mode == "wal"
    assert stored == CHATS
