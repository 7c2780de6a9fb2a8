"""The workers' commands with a broker or a job that is not there: one clear line, exit 2.

These need neither Redis nor PostgreSQL (a refused loopback port, a SQLite file)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prober", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=60,
    )


def test_an_unreachable_broker_is_one_clear_line(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("alice@example.test\n")
    db = f"sqlite:///{tmp_path / 'prober.db'}"
    for command in (
        ["submit", "--file", str(listing), "--broker", "redis://127.0.0.1:1/0", "--db", db],
        ["worker", "--broker", "redis://127.0.0.1:1/0", "--db", db],
    ):
        done = probe(*command)
        assert done.returncode == 2, done
        assert "Cannot reach the broker at redis://127.0.0.1:1/0" in done.stderr
        assert "Traceback" not in done.stderr
    # Nothing was stored for the list that could not be handed out.
    status = probe("job", "results", "x", "--db", db)
    assert status.returncode == 2 and "There is no job 'x'" in status.stderr


def test_a_broker_url_that_is_not_redis(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("alice@example.test\n")
    done = probe("submit", "--file", str(listing), "--broker", "amqp://127.0.0.1/",
                 "--db", f"sqlite:///{tmp_path / 'p.db'}")
    assert done.returncode == 2
    assert "is not a Redis URL" in done.stderr and "Traceback" not in done.stderr


def test_proxy_and_source_address_exclude_each_other() -> None:
    done = probe("worker", "--broker", "redis://127.0.0.1:1/0", "--db", "sqlite:///x.db",
                 "--proxy", "socks5://127.0.0.1:1080", "--source-address", "127.0.0.1")
    assert done.returncode == 2
    assert "give --source-address or --proxy, not both" in done.stderr
