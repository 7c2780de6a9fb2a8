"""Faults during list runs: Ctrl-C, a full disk, a closed pipe — through the real command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from prober.testing.world import MailHost, ThreadedWorld

ZONE = {
    "slow.test.": [("MX", 10, "mx.slow.test.")],
    "mx.slow.test.": [("A", "127.0.0.2")],
}


def slow_server() -> MailHost:
    """Answers like a real MX, but takes 0.2 s over each RCPT, so a run lasts a while."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.slow.test ESMTP\r\n")
        await writer.drain()
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            if verb == b"RCPT":
                await asyncio.sleep(0.2)
                reply = b"550 5.1.1 No such user"
            elif verb == b"EHLO":
                reply = b"250-mx.slow.test\r\n250 8BITMIME"
            else:
                reply = b"250 2.0.0 Ok"
            # Keep reading after the client has gone, so a QUIT it sent while we were
            # busy is still seen (and recorded).
            with contextlib.suppress(ConnectionError):
                writer.write(reply + b"\r\n")
                await writer.drain()

    return MailHost("mx.slow.test", "127.0.0.2", script=script)


def command(world: ThreadedWorld, listing: Path, output: Path, *extra: str) -> list[str]:
    host, port = world.dns_address
    return [
        sys.executable, "-m", "prober", "--file", str(listing), "--output", str(output),
        "--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private",
        "--helo", "probe.client.test", "--mail-from", "check@client.test",
        "--per-host", "2", "--rcpt-per-transaction", "5", "--rcpt-per-session", "5",
        "--no-catch-all-check", *extra,
    ]  # fmt: skip


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_ctrl_c_closes_sessions_flushes_and_resume_finishes(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    addresses = [f"user{i}@slow.test" for i in range(60)]
    listing.write_text("\n".join(addresses) + "\n")
    output = tmp_path / "out.jsonl"
    host = slow_server()
    with ThreadedWorld(ZONE, [host]) as world:
        proc = subprocess.Popen(
            command(world, listing, output), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 30
        while len(lines_of(output)) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 130
        text = err.decode()
        assert "interrupted" in text and "--resume" in text
        assert "Traceback" not in text
        # The summary is printed on the way out.
        assert "result" in text
        first = lines_of(output)
        assert 0 < len(first) < len(addresses)
        for line in first:
            json.loads(line)  # every line whole
        # Sessions cut short said QUIT where they could.
        sent = b"".join(host.received)
        assert sent.count(b"QUIT") >= sent.count(b"EHLO") - 1

        done = subprocess.run(
            command(world, listing, output, "--resume"), capture_output=True, timeout=60
        )
        assert done.returncode == 1, done.stderr.decode()
        results = [json.loads(line)["address"] for line in lines_of(output)]
        assert sorted(results) == sorted(addresses)
        assert world.data_received() == 0


def test_full_disk_is_a_clear_error(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        return
    listing = tmp_path / "list.txt"
    listing.write_text("a@slow.test\nb@slow.test\n")
    with ThreadedWorld(ZONE, [slow_server()]) as world:
        done = subprocess.run(
            command(world, listing, Path("/dev/full")), capture_output=True, timeout=60
        )
    assert done.returncode == 2
    assert b"cannot write the results: no space left on device" in done.stderr
    assert b"Traceback" not in done.stderr


def test_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"u{i}@slow.test\n" for i in range(10)))
    with ThreadedWorld(ZONE, [slow_server()]) as world:
        cmd = command(world, listing, Path("-"))
        cmd = cmd[: cmd.index("--output")] + cmd[cmd.index("--output") + 2 :]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.close()  # the reader goes away, as with `| head -0`
        _, err = proc.communicate(timeout=60)
    # As `cat` killed by SIGPIPE would: status 141, and no error message about it.
    assert proc.returncode == 141, err
    assert b"Broken pipe" not in err and b"Errno" not in err
    assert b"Traceback" not in err and b"Exception ignored" not in err
