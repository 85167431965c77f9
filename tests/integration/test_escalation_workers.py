"""Escalation tasks on real Celery workers (subprocesses), real Redis and PostgreSQL.

Each test runs its own worker on its own queue and channel-layer prefix, on the
test's PostgreSQL database (rows are committed: transaction=True). Emails go to
files (Django's file backend) so the test can count what the worker sent.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from apps.chat import services as chat_services
from apps.escalations import services, tasks
from apps.escalations.models import Escalation, EscalationEvent
from apps.escalations.tests.conftest import make_agent
from supportbot.celery import app
from supportbot.settings import redis_channel_layer
from tests import fake_openai as fake
from tests.servers import celery, child_env, spawn, stop_process

__all__ = ["make_agent"]  # a fixture, used by name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(180),
]

NOTE = {
    "goal": "Return a lamp that arrived broken",
    "tried": ["looked up order #W1"],
    "identity": "not verified",
    "sentiment": "negative",
    "next_step": "Send a return label.",
}


class Worker:
    """`celery -A supportbot worker` in a subprocess, logging to a file."""

    def __init__(self, log_dir: Path, queue: str, env: dict[str, str]) -> None:
        self.log_path = log_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
        self.queue = queue
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        self.process = spawn(
            celery(
                "worker",
                "-Q",
                self.queue,
                "-n",
                f"{self.queue}-{uuid.uuid4().hex[:4]}@%h",
                "--pool=solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ),
            self.log_path,
            self.env,
        )
        self.wait_for(r"\bready\.", timeout=60)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, pattern: str, *, count: int = 1, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.log())) >= count:
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker log never showed {pattern!r} x{count}:\n{self.log()[-4000:]}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process, 15)


def forget_connections() -> None:
    """Drop the app's cached broker connections (made for another broker URL)."""
    vars(app)["_pool"] = None
    vars(app.amqp)["_producer_pool"] = None


@pytest.fixture
def rig(redis_url: str, postgres_db: None, settings: Any, tmp_path: Path) -> Iterator[Any]:
    """This process publishes to a fresh queue on real Redis; workers consume it."""
    queue = f"esc-{uuid.uuid4().hex[:10]}"
    prefix = f"t{uuid.uuid4().hex[:8]}"
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    settings.CHANNEL_LAYERS = {"default": redis_channel_layer(redis_url, prefix)}
    saved = {
        key: app.conf[key] for key in ("broker_url", "task_default_queue", "task_always_eager")
    }
    app.conf.update(broker_url=redis_url, task_default_queue=queue, task_always_eager=False)
    forget_connections()
    env = child_env(
        REDIS_URL=redis_url,
        SUPPORTBOT_CHANNEL_PREFIX=prefix,
        SUPPORTBOT_TASK_VISIBILITY_TIMEOUT="5",
        SUPPORTBOT_SUPPORT_HOURS="",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        DJANGO_EMAIL_FILE_PATH=str(mail_dir),
    )
    workers: list[Worker] = []

    class Rig:
        def __init__(self) -> None:
            self.mail_dir = mail_dir
            self.env = env

        def worker(self, **extra: str) -> Worker:
            worker = Worker(tmp_path, queue, {**env, **extra}).start()
            workers.append(worker)
            return worker

        def emails(self) -> list[str]:
            return [path.read_text() for path in sorted(mail_dir.iterdir())]

    try:
        yield Rig()
    finally:
        for worker in workers:
            worker.stop()
        app.conf.update(saved)
        forget_connections()
        import redis

        redis.Redis.from_url(redis_url).delete(queue)


def escalate(make_agent: Any) -> Escalation:
    make_agent("alex", "Alex")
    conversation, _ = chat_services.do_create_conversation()
    chat_services.do_append_event(
        conversation.pk, role="customer", text="my lamp arrived broken, I want a person"
    )
    escalation, created = services.do_escalate(
        conversation.pk, trigger="customer_request", reason="The customer asked for a person."
    )
    assert created and escalation is not None
    return escalation


@contextmanager
def console_listener() -> Iterator[Any]:
    layer = get_channel_layer()
    assert layer is not None

    class Listener:
        channel = ""

        async def open(self) -> None:
            self.channel = await layer.new_channel()
            await layer.group_add(services.CONSOLE_GROUP, self.channel)

        async def until(self, wanted: set[str], timeout: float = 45) -> list[str]:
            seen: list[str] = []
            async with asyncio.timeout(timeout):
                while not wanted <= set(seen):
                    seen.append((await layer.receive(self.channel))["event"])
            return seen

    yield Listener()


def wait_until(check: Any, timeout: float = 45) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def fresh(escalation: Escalation) -> Escalation:
    return Escalation.objects.get(pk=escalation.pk)


def events(kind: str) -> int:
    return EscalationEvent.objects.filter(kind=kind).count()


@pytest.mark.asyncio
async def test_an_escalation_is_summarised_and_announced_by_a_worker(rig, make_agent, fake_openai):
    # the model fails once (the task backs off and retries), then writes the note
    fake_openai.script(fake.error(503), fake.json_output(NOTE))
    await database_sync_to_async(rig.worker)(**{**fake_openai.env(), "OPENAI_MAX_RETRIES": "0"})
    with console_listener() as listener:
        await listener.open()
        escalation = await database_sync_to_async(escalate)(make_agent)
        seen = await listener.until({"created", "notified", "updated"})
    await database_sync_to_async(wait_until)(lambda: fresh(escalation).summarized_at is not None)
    done = await database_sync_to_async(fresh)(escalation)
    assert done.summary == NOTE and done.summary_source == "model"
    assert done.notified_at is not None
    assert len(fake_openai.requests) == 2
    [email] = rig.emails()
    assert "A customer is waiting for a person" in email
    notified = await database_sync_to_async(EscalationEvent.objects.get)(kind="notified")
    assert notified.data["recipients"] == ["alex@example.com"]  # sent as Bcc
    assert f"/admin/console/inbox/{escalation.conversation_id}/" in email
    assert seen[0] == "created"


@pytest.mark.asyncio
async def test_a_worker_killed_mid_task_is_replaced_and_the_task_completes_once(
    rig, make_agent, fake_openai
):
    # the first worker hangs on the model; it is killed with SIGKILL mid-task
    fake_openai.script(fake.slow(60, fake.json_output(NOTE)), fake.json_output(NOTE))
    slow_env = {**fake_openai.env(), "OPENAI_READ_TIMEOUT": "90", "OPENAI_MAX_RETRIES": "0"}
    first = await database_sync_to_async(rig.worker)(**slow_env)
    escalation = await database_sync_to_async(escalate)(make_agent)
    await database_sync_to_async(wait_until)(lambda: len(fake_openai.requests) == 1)
    await database_sync_to_async(first.wait_for)(r"escalations\.summarise.*received")
    first.kill()
    assert (await database_sync_to_async(fresh)(escalation)).summarized_at is None

    # when a new worker starts, the unacknowledged task comes back after the visibility timeout
    started = time.monotonic()
    second = await database_sync_to_async(rig.worker)(**slow_env)
    await database_sync_to_async(wait_until)(
        lambda: fresh(escalation).summarized_at is not None, 60
    )
    await database_sync_to_async(second.wait_for)(r"escalations\.notify_agents\[.*succeeded")
    redelivered_after = time.monotonic() - started

    # then it completed, exactly once in effect
    done = await database_sync_to_async(fresh)(escalation)
    assert done.summary == NOTE
    assert await database_sync_to_async(events)("summarised") == 1
    assert await database_sync_to_async(events)("notified") == 1
    assert len(rig.emails()) == 1
    assert len(fake_openai.requests) == 2
    assert redelivered_after < 45
    print(f"redelivered and completed {redelivered_after:.1f}s after the new worker started")


@pytest.mark.asyncio
async def test_the_same_tasks_delivered_twice_change_nothing_the_second_time(rig, make_agent):
    worker = await database_sync_to_async(rig.worker)()  # no model: the note is made by rules
    escalation = await database_sync_to_async(escalate)(make_agent)
    await database_sync_to_async(worker.wait_for)(r"escalations\.notify_agents\[.*succeeded")
    await database_sync_to_async(wait_until)(lambda: fresh(escalation).summarized_at is not None)
    before = await database_sync_to_async(fresh)(escalation)

    # when both tasks are delivered again
    await database_sync_to_async(tasks.summarise_escalation.delay)(escalation.pk)
    await database_sync_to_async(tasks.notify_agents.delay)(escalation.pk, 0)
    await database_sync_to_async(worker.wait_for)(
        r"escalations\.notify_agents\[.*succeeded in [\d.]+s: False", timeout=30
    )
    await database_sync_to_async(worker.wait_for)(
        r"escalations\.summarise\[.*succeeded in [\d.]+s: False", timeout=30
    )

    # then nothing changed
    after = await database_sync_to_async(fresh)(escalation)
    assert (after.summary, after.summarized_at, after.notified_at) == (
        before.summary,
        before.summarized_at,
        before.notified_at,
    )
    assert after.summary_source == "extractive"
    assert await database_sync_to_async(events)("summarised") == 1
    assert await database_sync_to_async(events)("notified") == 1
    assert len(rig.emails()) == 1
    assert os.path.isdir(rig.mail_dir)
