"""Helpers for the service tests: a loopback mail world, databases, and `probe serve` itself.

The server always runs as a real subprocess (``python -m prober serve``) on a free
loopback port, so tests can kill it with SIGKILL; the mail world runs in this process
on its own thread (:class:`prober.testing.world.ThreadedWorld`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from prober.testing.world import MailHandler, MailHost, ThreadedWorld

POSTGRES = os.environ.get("PROBER_TEST_POSTGRES")
PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:prober:problem:{slug}"
    assert body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


class Counting:
    """An SMTP server script that counts connections open at once (the server's view)."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.open = 0
        self.most = 0
        self.connections = 0
        self.rcpts: list[str] = []
        self._lock = threading.Lock()

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with self._lock:
            self.open += 1
            self.connections += 1
            self.most = max(self.most, self.open)
        try:
            writer.write(b"220 busy.test ESMTP\r\n")
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    return
                word = line[:4].upper()
                if word in (b"EHLO", b"HELO"):
                    answer = b"250 busy.test"
                elif word == b"MAIL":
                    answer = b"250 2.1.0 OK"
                elif word == b"RCPT":
                    await asyncio.sleep(self.delay)
                    address = line.decode().split("<", 1)[1].split(">", 1)[0]
                    self.rcpts.append(address)
                    ok = address.startswith(("user", "slow"))
                    answer = b"250 2.1.5 OK" if ok else b"550 5.1.1 No such user"
                elif word == b"RSET":
                    answer = b"250 2.0.0 OK"
                elif word == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                else:
                    answer = b"502 5.5.2 Not implemented"
                writer.write(answer + b"\r\n")
                await writer.drain()
        finally:
            with self._lock:
                self.open -= 1


class Greylist:
    """First RCPT for an address: 450 with a one-second hint; afterwards 250."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, address: str) -> str:
        address = address.lower()
        if not address.startswith("grey"):
            return f"550 5.1.1 <{address}>: no such user"
        self.seen[address] = self.seen.get(address, 0) + 1
        if self.seen[address] == 1:
            return f"450 4.7.1 <{address}>: Greylisted, try again in 1 seconds"
        return "250 2.1.5 OK"


RECORDS = {
    "example.test.": [("MX", 10, "mx.example.test.")],
    "mx.example.test.": [("A", "127.0.0.2")],
    "busy.test.": [("MX", 10, "mx.busy.test.")],
    "mx.busy.test.": [("A", "127.0.0.3")],
    "slow.test.": [("MX", 10, "mx.slow.test.")],
    "mx.slow.test.": [("A", "127.0.0.4")],
    "greylist.test.": [("MX", 10, "mx.greylist.test.")],
    "mx.greylist.test.": [("A", "127.0.0.5")],
    "nullmx.test.": [("MX", 0, ".")],
    "slowdown.test.": [("MX", 10, "mx.slowdown.test.")],
    "mx.slowdown.test.": [("A", "127.0.0.6")],
}


class Mail:
    """The world of the service tests, and the servers' own counters."""

    def __init__(self) -> None:
        example = MailHandler(
            rcpt={"alice@example.test": "250 2.1.5 Recipient OK"},
            default="550 5.1.1 <{}>: Recipient address rejected: User unknown in local "
            "recipient table",
        )
        example.rule = lambda a: (
            None if a.lower() in example.rcpt else example.default.format(a)
        )
        self.example = example
        self.busy = Counting(0.05)
        self.slow = Counting(0.25)
        self.greylist = Greylist()
        self.world = ThreadedWorld(
            RECORDS,
            [
                MailHost("mx.example.test", "127.0.0.2", example),
                MailHost("mx.busy.test", "127.0.0.3", script=self.busy),
                MailHost("mx.slow.test", "127.0.0.4", script=self.slow),
                MailHost("mx.greylist.test", "127.0.0.5", MailHandler(rule=self.greylist)),
                MailHost(
                    "mx.slowdown.test", "127.0.0.6",
                    MailHandler(default="421 4.7.0 Too many connections, slow down"),
                ),
            ],
        )

    def __enter__(self) -> Mail:
        self.world.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.world.__exit__(*exc)
        assert self.world.data_received() == 0

    def args(self) -> list[str]:
        host, port = self.world.dns_address
        return [
            "--dns-server", f"{host}:{port}",
            "--smtp-port", str(self.world.port),
            "--helo", "probe.client.test",
            "--mail-from", "check@client.test",
            "--timeout", "3", "--connect-timeout", "2", "--deadline", "15",
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str, where: Path) -> Iterator[str]:
    """A fresh, empty database URL of ``kind`` (sqlite, or postgresql: a new database)."""
    if kind == "sqlite":
        yield f"sqlite:///{where / 'prober.db'}"
        return
    assert POSTGRES is not None
    import psycopg

    name = "prober_" + uuid.uuid4().hex[:12]
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """``probe serve`` in a subprocess; ``url`` once it answers /healthz."""

    def __init__(self, db: str, args: list[str], port: int | None = None) -> None:
        self.db = db
        self.args = args
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="prober-serve-", suffix=".log", delete=False)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        command = [
            sys.executable, "-m", "prober", "serve", "--host", "127.0.0.1",
            "--port", str(self.port), "--db", self.db, "--log-level", "warning", *self.args,
        ]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"probe serve exited: {self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"probe serve did not start: {self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log.name)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def command(*args: str) -> tuple[int, str, str]:
    """Run ``probe ARGS`` in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from prober.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        else:
            code = 0
    return code, out.getvalue(), err.getvalue()


def keys(db: str, *args: str) -> str:
    """Run ``probe keys ...`` against ``db``; its standard output."""
    code, out, err = command("keys", *args, "--db", db)
    assert code == 0, err
    return out.strip()
