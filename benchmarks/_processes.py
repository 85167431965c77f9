"""The streaming benchmark's processes: Daphne servers, their CPU and memory, other
benchmarks running beside one, and the Redis inbox watch."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent


def raise_file_limit() -> int:
    """Open files allowed to this process and the servers it starts (they inherit it):
    every held socket is a descriptor on both ends."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


@contextmanager
def server(app: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own share of the CPU: see `own_share`
        )
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}", process.pid
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


# `own_share`: with the kernel's autogroup scheduling (Linux's default on desktops and
# this box) the CPU is shared fairly between sessions, and every process of one session
# splits that session's share. The servers and the fake model each start a session of
# their own (the clients keep the caller's), so that on a machine doing other work the
# server under test does not split one share with the load generator (it got a quarter
# of a core that way).


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command's name (which may hold spaces): the state is
    [0], the parent [1], utime and stime [11] and [12]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    try:
        return int(stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return 0


def other_benchmarks() -> list[int]:
    """Other streaming benchmarks running on this machine: they would skew the figures.
    This one and the commands that started it (`timeout ... -m benchmarks.streaming`)
    are not others."""
    ours = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in ours:
        ours.add(pid)
        pid = parent_of(pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"benchmarks.streaming" in command:
            found.append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class InboxWatch:
    """The most messages waiting at once in any process's Redis inbox (channels_redis
    keeps all of a process's sockets' messages in one sorted set), sampled every 20 ms."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(redis_url)
        self.pattern = f"{prefix}specific.*"
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.stop.wait(0.02):
            keys = list(self.client.scan_iter(match=self.pattern, count=1000))
            if not keys:
                continue
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.zcard(key)
            self.peak = max(self.peak, *pipe.execute())

    def figures(self) -> str:
        return f"Redis inbox peak {self.peak} messages"

    def __enter__(self) -> InboxWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.client.close()
