"""Settings come from the environment; bad values stop start-up with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.servers import ROOT

SECRET = "k" * 64


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_URL", "mysql://root@localhost/db", "DATABASE_URL must be a URL starting with"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL must be a URL starting with"),
        ("OPENAI_READ_TIMEOUT", "soon", "OPENAI_READ_TIMEOUT must be a number"),
        ("SUPPORTBOT_MAX_TOOL_STEPS", "0", "SUPPORTBOT_MAX_TOOL_STEPS must be at least 1"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be true or false"),
        ("SUPPORTBOT_ENV", "staging", "SUPPORTBOT_ENV must be development or production"),
        ("SUPPORTBOT_REVIEW_MODE", "weekly", "SUPPORTBOT_REVIEW_MODE must be realtime or batch"),
        (
            "SUPPORTBOT_EMBED_ORIGINS",
            "https://shop.example.com/cart",
            "SUPPORTBOT_EMBED_ORIGINS must list origins like https://shop.example.com",
        ),
    ],
)
def test_a_bad_value_fails_at_start_up_naming_the_variable(name, value, message):
    result = run_manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_production_needs_a_secret_key_and_hosts():
    result = run_manage("check", SUPPORTBOT_ENV="production")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_settings_pass_the_deploy_check():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SUPPORTBOT_ENV="production",
        DJANGO_SECRET_KEY=SECRET + "-Zq8#",
        DJANGO_ALLOWED_HOSTS="chat.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_nothing_set_means_the_embedded_default(settings):
    from django.conf import settings as live

    if os.environ.get("DATABASE_URL") or os.environ.get("REDIS_URL"):
        pytest.skip("the embedded default is what runs with nothing set")
    assert live.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert live.CHANNEL_LAYERS["default"]["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    assert live.CELERY_TASK_ALWAYS_EAGER is True
    assert live.SUPPORTBOT_MODEL == "gpt-4o-mini"


@pytest.mark.parametrize("url", ["", "sqlite:///var/other.sqlite3", "sqlite:////tmp/x.sqlite3"])
def test_sqlite_gets_the_same_options_however_it_is_named(url):
    script = (
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "print(d['ENGINE'], d['OPTIONS'], d['CONN_MAX_AGE'] > 0, bool(d['TEST'].get('NAME')))"
    )
    result = run_manage("shell", "-c", script, **({"DATABASE_URL": url} if url else {}))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "django.db.backends.sqlite3 {'transaction_mode': 'IMMEDIATE', 'timeout': 20, "
        "'init_command': 'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL'} True True"
    )


@pytest.mark.parametrize(
    ("size", "threads", "expected"),
    [("8", "", "8"), ("3", "", "3"), ("0", "", "none"), ("", "", "7"), ("", "4", "10")],
)
def test_postgres_gets_a_bounded_pool_per_process_sized_to_its_threads(size, threads, expected):
    # By default: the chat path's database thread (1 on PostgreSQL) + Channels' one + 5
    # for requests.
    script = (
        "from django.conf import settings as s; d = s.DATABASES['default']; "
        "pool = d['OPTIONS'].get('pool'); "
        "print(pool['max_size'] if pool else 'none', d['CONN_MAX_AGE'])"
    )
    env = {
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/none",
        "DATABASE_POOL_SIZE": size,
        "SUPPORTBOT_DB_THREADS": threads,
    }
    result = run_manage("shell", "-c", script, **env)
    assert result.returncode == 0, result.stderr
    size_seen, max_age = result.stdout.strip().splitlines()[-1].split()
    assert size_seen == expected
    assert max_age == ("600" if expected == "none" else "0")  # the pool keeps connections
