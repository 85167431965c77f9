"""Real servers for integration and browser tests: Daphne processes on this machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def database_url() -> str:
    """The URL of the database the running test uses, for a child process."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def child_env(database: str | None = None, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="supportbot.settings",
        DATABASE_URL=database or database_url(),
        SUPPORTBOT_LOCAL_WORD_DELAY="0.01",
        PYTHONUNBUFFERED="1",
    )
    env.pop("REDIS_URL", None)  # each test says which Redis, if any
    env.update(extra)
    return env


def spawn(
    command: list[str], log_path: Path, env: dict[str, str] | None = None, *, append: bool = False
) -> subprocess.Popen[bytes]:
    """Start `command` in the project's folder, its output (both streams) in `log_path`."""
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def celery(*args: str) -> list[str]:
    """The command line of `celery -A supportbot ARGS` in this interpreter."""
    return [sys.executable, "-m", "celery", "-A", "supportbot", *args]


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10) -> None:
    """SIGTERM, and SIGKILL if it has not ended within `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout}s")


class DaphneServer:
    """One Daphne process on a fixed port; it can be killed and started again there."""

    def __init__(
        self, log_dir: Path, *, port: int | None = None, database: str | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"daphne-{self.port}.log"
        self.database = database
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, **env: str) -> DaphneServer:
        """Start (again), with `env` on top of the server's own for this run only."""
        self.process = spawn(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "supportbot.asgi:application",
            ],
            self.log_path,
            child_env(self.database, **{**self.env, **env}),
            append=True,
        )
        try:
            wait_for_port(self.port, self.process)
        except BaseException:
            print(self.log())
            raise
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine or container dies."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process)


@contextmanager
def daphne(
    log_dir: Path, *, port: int | None = None, database: str | None = None, **env: str
) -> Iterator[str]:
    """A Daphne process serving supportbot; yields its base URL (http://127.0.0.1:PORT).

    It uses the running test's database unless `database` (a URL) names another.
    """
    server = DaphneServer(log_dir, port=port, database=database, **env).start()
    try:
        yield server.url
    except BaseException:
        print(server.log())
        raise
    finally:
        server.stop()
