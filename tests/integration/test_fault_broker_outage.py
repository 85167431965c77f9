"""The broker goes away: a private redis-server (started here, on its own port) is
stopped for 10 s while a conversation closes, then started again. The close's
background work waits in the outbox and, once the beat can reach the broker again,
the worker delivers exactly one transcript and one analysis."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async

from apps.chat import ownership
from apps.chat import services as chat_services
from apps.chat.models import Conversation
from apps.orders.models import Customer
from apps.outbox.models import OutboxMessage
from apps.reports.models import ConversationAnalysis, TranscriptDelivery
from supportbot.celery import app
from tests.integration.test_escalation_workers import Worker, forget_connections, wait_until
from tests.servers import celery, child_env, free_port, spawn, stop_process, wait_for_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(150),
]

OUTAGE_SECONDS = 10


class PrivateRedis:
    """redis-server on a free port, no persistence: stopping it loses everything queued."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = spawn(
            [binary, "--port", str(self.port), "--save", "", "--appendonly", "no"],
            self.log_path,
            append=True,
        )
        wait_for_port(self.port, self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Beat:
    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_path = log_dir / "beat.log"
        schedule = log_dir / "beat-schedule"
        self.process = spawn(
            celery("beat", "--loglevel=INFO", "--schedule", str(schedule)), self.log_path, env
        )

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def broker(postgres_db: None, settings: Any, tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path).start()
    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.update(broker_url=redis.url, task_always_eager=False)
    forget_connections()
    try:
        yield redis
    finally:
        redis.stop()
        app.conf.update(saved)
        forget_connections()


def a_closed_conversation_during_the_outage(customer: Customer) -> str:
    conversation, _ = chat_services.do_create_conversation()
    Conversation.objects.filter(pk=conversation.pk).update(customer=customer)
    chat_services.do_append_event(conversation.pk, role="customer", text="where is my order?")
    chat_services.do_append_event(conversation.pk, role="assistant", text="It ships today.")
    assert ownership.do_close_conversation(conversation.pk, reason="customer")
    return str(conversation.pk)


async def test_a_conversation_closed_while_the_broker_is_down_gets_one_transcript_and_analysis(
    broker: PrivateRedis, tmp_path: Path
):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = child_env(
        REDIS_URL=broker.url,
        SUPPORTBOT_CHANNEL_PREFIX=f"t{uuid.uuid4().hex[:8]}",
        SUPPORTBOT_OUTBOX_INTERVAL="1",
        DJANGO_EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        DJANGO_EMAIL_FILE_PATH=str(mail_dir),
    )
    customer = await database_sync_to_async(Customer.objects.create)(
        user_id="ana_1", first_name="Ana", last_name="Lopez", email="ana@example.com"
    )
    worker = await database_sync_to_async(Worker(tmp_path, "celery", env).start)()
    beat = Beat(tmp_path, env)
    try:
        # given the broker is down
        broker.stop()
        down_at = time.monotonic()

        # when a conversation closes meanwhile
        conversation_id = await database_sync_to_async(a_closed_conversation_during_the_outage)(
            customer
        )
        pending = await database_sync_to_async(
            lambda: list(
                OutboxMessage.objects.filter(sent_at__isnull=True).values_list("task", "last_error")
            )
        )()
        assert sorted(task for task, _ in pending) == [
            "apps.reports.tasks.analyze_conversation_task",
            "apps.reports.tasks.review_conversation_task",
            "apps.reports.tasks.send_transcript_task",
        ]
        assert all("Connection refused" in error for _, error in pending), pending

        # and the broker comes back after the outage
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
        broker.start()
        back_at = time.monotonic()

        # then both pieces of work are delivered, once
        def delivered() -> bool:
            sent = TranscriptDelivery.objects.filter(
                conversation_id=conversation_id, status=TranscriptDelivery.Status.SENT
            ).exists()
            analysed = ConversationAnalysis.objects.filter(conversation_id=conversation_id).exists()
            return sent and analysed

        await database_sync_to_async(wait_until)(delivered, 60)
        caught_up = time.monotonic() - back_at
        time.sleep(3)  # a few more beat ticks: nothing is sent twice
    finally:
        beat.stop()
        worker.stop()

    deliveries = await database_sync_to_async(
        lambda: list(TranscriptDelivery.objects.filter(conversation_id=conversation_id))
    )()
    assert [(d.status, d.send_count) for d in deliveries] == [("sent", 1)]
    assert len(list(mail_dir.iterdir())) == 1
    analyses = await database_sync_to_async(
        ConversationAnalysis.objects.filter(conversation_id=conversation_id).count
    )()
    assert analyses == 1
    unsent = await database_sync_to_async(
        OutboxMessage.objects.filter(sent_at__isnull=True).count
    )()
    assert unsent == 0
    print(f"broker down {OUTAGE_SECONDS}s; the close's work delivered {caught_up:.1f}s after")
