"""The command as a new user meets it, through the real entry point and real processes:
CSV round trips, output formats, progress and live transcripts in a real terminal,
configuration, colour, pipes, help and completion."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from prober.cli import ExitStatus, main
from prober.testing.world import MailHandler, MailHost, ThreadedWorld

ROOT = Path(__file__).resolve().parent.parent

ZONE = {
    "alpha.test.": [("MX", 10, "mx.alpha.test.")],
    "mx.alpha.test.": [("A", "127.0.0.2")],
    "tarpit.test.": [("MX", 10, "mx.tarpit.test.")],
    "mx.tarpit.test.": [("A", "127.0.0.4")],
    "probe.client.test.": [("A", "127.0.0.9")],
}
KNOWN = {f"{n}@alpha.test" for n in ("a", "c", "anna", "carl", "dora", "u1", "u3", "u5")}


def tarpit() -> MailHost:
    """Waits 2.5 s before its banner, as a tarpit does, then answers like a real MX."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2.5)
        writer.write(b"220 mx.tarpit.test ESMTP\r\n")
        await writer.drain()
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                return
            reply = b"250-mx.tarpit.test\r\n250 8BITMIME" if verb == b"EHLO" else b"250 2.0.0 Ok"
            writer.write(reply + b"\r\n")
            await writer.drain()

    return MailHost("mx.tarpit.test", "127.0.0.4", script=script)


@pytest.fixture(scope="module")
def handler() -> MailHandler:
    return MailHandler(rcpt={a: "250 2.1.5 Ok" for a in KNOWN}, default="550 5.1.1 No such user")


@pytest.fixture(scope="module")
def world(handler: MailHandler) -> Iterator[ThreadedWorld]:
    hosts = [MailHost("mx.alpha.test", "127.0.0.2", handler), tarpit()]
    with ThreadedWorld(ZONE, hosts) as running:
        yield running
        assert running.data_received() == 0


def world_args(world: ThreadedWorld, helo: bool = True) -> list[str]:
    host, port = world.dns_address
    args = [
        "--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private",
        "--timeout", "5", "--connect-timeout", "2", "--no-catch-all-check",
    ]  # fmt: skip
    if helo:
        args += ["--helo", "probe.client.test", "--mail-from", "check@client.test"]
    return args


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prober", *args]


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "", "FORCE_COLOR": ""}


# -- CSV in, the same CSV out ----------------------------------------------------------

# An export as an Italian spreadsheet writes it: BOM, ';', CRLF, a quoted field holding a
# line break and a ';', a row without an address, and cells a spreadsheet would run.
CRM = (
    "\ufeffid;nome;Email;iscrizione;note\r\n"
    '1;"Rossi; Anna";anna@alpha.test;2024-01-02;"prima riga\r\nseconda riga"\r\n'
    "2;Bruno;bruno@alpha.test;2024-02-03;\r\n"
    "3;Senza indirizzo;;2024-03-04;=1+1\r\n"
    "4;Carl;carl@alpha.test;2024-04-05;@SUM(A1)\r\n"
    "5;Dora;dora@alpha.test;2024-05-06;ultima\r\n"
)


def _records(data: bytes) -> list[bytes]:
    """Physical CSV records (quotes balanced), line ends included."""
    out, part = [], b""
    for line in data.splitlines(keepends=True):
        part += line
        if part.count(b'"') % 2 == 0:
            out.append(part)
            part = b""
    return out


def test_csv_round_trip_keeps_columns_order_and_bytes(world: ThreadedWorld, tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_bytes(CRM.encode("utf-8"))
    out = tmp_path / "checked.csv"
    done = subprocess.run(
        command("--file", str(source), "--output", str(out), *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert done.returncode == ExitStatus.UNDELIVERABLE, done.stderr
    written = out.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs stays
    originals, results = _records(CRM.encode()), _records(written)
    assert len(results) == len(originals)
    for original, result in zip(originals, results, strict=True):
        # Byte for byte: the input record, then ';' and the added cells, then CRLF.
        body = original.removesuffix(b"\r\n")
        assert result.startswith(body + b";"), (original, result)
        assert result.endswith(b"\r\n")
    rows = list(csv.reader(io.StringIO(written.decode("utf-8-sig"), newline=""), delimiter=";"))
    header = rows[0]
    assert header[:5] == ["id", "nome", "Email", "iscrizione", "note"]
    assert header[5:8] == ["probe_verdict", "probe_reason", "probe_summary"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert [row[0] for row in rows[1:]] == ["1", "2", "3", "4", "5"]  # input order
    assert by_id["1"]["probe_verdict"] == "deliverable"
    assert by_id["1"]["note"] == "prima riga\r\nseconda riga"
    assert by_id["2"]["probe_reason"] == "mailbox_unknown"
    assert by_id["3"]["probe_verdict"] == "" and by_id["3"]["probe_reason"] == "no_address"
    assert "no address" in by_id["3"]["probe_summary"]
    assert by_id["3"]["note"] == "=1+1"  # the user's own cell, untouched
    assert "1 record" in done.stderr.decode() or "records without an address" in (
        done.stderr.decode()
    )


def test_added_cells_cannot_be_formulas(world: ThreadedWorld, tmp_path: Path) -> None:
    # The address itself is what the server echoes back: make it start with '='.
    source = tmp_path / "list.csv"
    source.write_text("email\n=cmd@alpha.test\n-x@alpha.test\n")
    out = tmp_path / "out.csv"
    subprocess.run(
        command("-f", str(source), "-o", str(out), *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    rows = list(csv.reader(out.read_text().splitlines()))
    for row in rows[1:]:
        for cell in row[1:]:  # ours: never a formula
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    assert rows[1][0] == "=cmd@alpha.test"  # the user's cell as it was


def test_csv_from_standard_input_by_column_and_by_header(
    world: ThreadedWorld, tmp_path: Path
) -> None:
    table = b"name,mail_address\nAnna,anna@alpha.test\nBob,bob@alpha.test\n"
    by_column = subprocess.run(
        command("-f", "-", "--column", "mail_address", "--format", "csv", *world_args(world)),
        input=table,
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    lines = by_column.stdout.decode().splitlines()
    assert lines[0].startswith("name,mail_address,probe_verdict,")
    assert lines[1].startswith("Anna,anna@alpha.test,deliverable,")
    assert lines[2].startswith("Bob,bob@alpha.test,undeliverable,")
    # A header naming an address column says "CSV" by itself; a file name never does.
    sniffed = subprocess.run(
        command("-f", "-", "--format", "csv", *world_args(world)),
        input=b"Email;nome\r\nanna@alpha.test;Anna\r\n",
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert sniffed.stdout.decode().splitlines()[1].startswith("anna@alpha.test;Anna;deliverable;")
    plain = tmp_path / "plain.csv"  # named .csv, holding a plain list with no header
    plain.write_text("anna@alpha.test\n")
    refused = subprocess.run(
        command("-f", str(plain), *world_args(world)), capture_output=True, env=ENV, timeout=60
    )
    assert refused.returncode == ExitStatus.ERROR
    assert b"Which column" in refused.stderr and b"--column" in refused.stderr


def test_jsonl_input_keeps_its_fields(world: ThreadedWorld) -> None:
    lines = b'{"id": 7, "email": "anna@alpha.test", "tags": ["a"]}\n{"id": 8}\n'
    done = subprocess.run(
        command("-f", "-", "--format", "jsonl", *world_args(world)),
        input=lines,
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    first, second = (json.loads(x) for x in done.stdout.decode().splitlines())
    assert first["verdict"] == "deliverable"
    assert first["input"] == {"id": 7, "email": "anna@alpha.test", "tags": ["a"]}
    assert second["reason"] == "no_address" and second["input"] == {"id": 8}


def test_order_is_the_input_order_and_resume_continues_it(
    world: ThreadedWorld, tmp_path: Path
) -> None:
    # The tarpit's address comes first and answers last: the rest wait for it.
    addresses = ["slow@tarpit.test"] + [f"u{i}@alpha.test" for i in range(8)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    out = tmp_path / "out.jsonl"
    subprocess.run(
        command("-f", str(listing), "-o", str(out), *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    written = [json.loads(line)["address"] for line in out.read_text().splitlines()]
    assert written == addresses
    # Cut the file after three records (and half a fourth), then resume: the same file.
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:3]) + lines[3][:20])
    again = subprocess.run(
        command("-f", str(listing), "-o", str(out), "--resume", *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert b"3 already in the output" in again.stderr
    assert [json.loads(line)["address"] for line in out.read_text().splitlines()] == addresses
    # Resuming into that file with another list is refused, not mixed.
    other = tmp_path / "other.txt"
    other.write_text("zz@alpha.test\n")
    mixed = subprocess.run(
        command("-f", str(other), "-o", str(out), "--resume", *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert mixed.returncode == ExitStatus.ERROR and b"is not for" in mixed.stderr


# -- the same output however many addresses ------------------------------------------------


def test_one_address_or_two_in_every_format(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two = ["a@alpha.test"], ["a@alpha.test", "b@alpha.test"]
    for fmt in ("jsonl", "csv", "json"):
        outputs = []
        for addresses in (one, two):
            code, out, _err = run(capsys, *addresses, "--format", fmt, "-q", *world_args(world))
            outputs.append(out)
        if fmt == "jsonl":
            assert [json.loads(x)["address"] for x in outputs[1].splitlines()] == two
            first = json.loads(outputs[0])
            again = json.loads(outputs[1].splitlines()[0])
            assert first.keys() == again.keys()
            assert (first["verdict"], first["reason"]) == (again["verdict"], again["reason"])
        elif fmt == "csv":
            assert outputs[0].splitlines()[0] == outputs[1].splitlines()[0]
            assert len(outputs[1].splitlines()) == 3
        else:
            assert [r["address"] for r in json.loads(outputs[1])] == two
            assert [r["address"] for r in json.loads(outputs[0])] == one
    # Text: the same transcript for each address, one after the other.
    _code, single, _ = run(capsys, "a@alpha.test", *world_args(world))
    _code, double, _ = run(capsys, "a@alpha.test", "b@alpha.test", *world_args(world))
    assert single.startswith("a@alpha.test: DELIVERABLE (accepted)")
    assert "a@alpha.test: DELIVERABLE" in double and "b@alpha.test: UNDELIVERABLE" in double
    assert "RCPT" in double  # transcripts, not one-line summaries
    # --json stays the one-object shortcut, and refuses what it cannot be.
    code, out, _ = run(capsys, "a@alpha.test", "--json", *world_args(world))
    assert json.loads(out)["verdict"] == "deliverable"
    code, _out, err = run(capsys, "a@alpha.test", "b@alpha.test", "--json", *world_args(world))
    assert code == ExitStatus.ERROR and "--format jsonl" in err
    code, _out, err = run(capsys, "a@alpha.test", "--format", "xml")
    assert code == ExitStatus.ERROR and "--format" in err
    code, _out, err = run(capsys, "a@alpha.test", "--format", "text", "--fields", "verdict")
    assert code == ExitStatus.ERROR and "--fields" in err


def test_quiet_gives_the_verdict_line_and_fields_make_lines_small(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "a@alpha.test", "-q", *world_args(world))
    assert code == 0 and out == "a@alpha.test: DELIVERABLE (accepted)\n"
    _code, full, _ = run(capsys, "a@alpha.test", "b@alpha.test", "--format", "jsonl", "-q",
                         *world_args(world))  # fmt: skip
    _code, small, _ = run(capsys, "a@alpha.test", "b@alpha.test", "--format", "jsonl", "-q",
                          "--fields", "verdict,reason", *world_args(world))  # fmt: skip
    records = [json.loads(x) for x in small.splitlines()]
    assert records == [
        {"address": "a@alpha.test", "verdict": "deliverable", "reason": "accepted"},
        {"address": "b@alpha.test", "verdict": "undeliverable", "reason": "mailbox_unknown"},
    ]
    assert len(small) * 10 < len(full)


# -- a real terminal: progress and the live transcript -----------------------------------------


def in_terminal(argv: list[str], *, stdout_file: Path | None = None, timeout: float = 60) -> str:
    """Run ``argv`` with standard error (and output, unless ``stdout_file``) on a pty;
    return what the terminal showed."""
    leader, follower = pty.openpty()
    out = open(stdout_file, "wb") if stdout_file is not None else None  # noqa: SIM115
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out if out is not None else follower,
            stderr=follower,
            env={**ENV, "TERM": "xterm", "COLUMNS": "120"},
        )
        os.close(follower)
        shown = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
        proc.wait(10)
        return shown.decode("utf-8", "replace")
    finally:
        os.close(leader)
        if out is not None:
            out.close()


def test_progress_is_drawn_on_the_terminal_and_never_in_the_results(
    world: ThreadedWorld, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("slow@tarpit.test\n" + "".join(f"u{i}@alpha.test\n" for i in range(30)))
    results = tmp_path / "stdout.txt"
    screen = in_terminal(
        command("-f", str(listing), "--format", "jsonl", *world_args(world)),
        stdout_file=results,
    )
    # The bar: done/total, rate, counts by verdict, on the terminal (standard error).
    assert "/31" in screen, screen
    assert "/s" in screen and "deliverable" in screen
    assert "31 results" in screen  # the summary after it
    lines = results.read_text().splitlines()
    assert len(lines) == 31
    for line in lines:
        json.loads(line)  # nothing but results in standard output
    # Not a terminal: no bar at all, only the summary.
    piped = subprocess.run(
        command("-f", str(listing), "--format", "jsonl", *world_args(world)),
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert b"\x1b[" not in piped.stderr and b"/31" not in piped.stderr
    assert b"31 results" in piped.stderr
    # With --output the terminal shows the bar, and the file holds only results.
    written = tmp_path / "o.jsonl"
    screen = in_terminal(command("-f", str(listing), "-o", str(written), *world_args(world)))
    assert "/31" in screen
    assert all(json.loads(line) for line in written.read_text().splitlines())
    assert "\x1b" not in written.read_text()
    never = in_terminal(
        command(
            "-f",
            str(listing),
            "--progress",
            "never",
            "-o",
            str(tmp_path / "n.jsonl"),
            *world_args(world),
        )  # fmt: skip
    )
    assert "/31" not in never and "31 results" in never


def test_live_transcript_shows_each_step_and_the_wait(world: ThreadedWorld) -> None:
    screen = in_terminal(command("slow@tarpit.test", "--color", "never", *world_args(world)))
    # The wait for the banner is shown while it lasts, then each step as it completes.
    assert "waiting for the banner… 1 s" in screen or "waiting for the banner… 2 s" in screen
    assert screen.index("waiting for the banner") < screen.index("220 mx.tarpit.test")
    assert screen.index("RCPT TO:<slow@tarpit.test>") < screen.index("DELIVERABLE")
    assert "\x1b[3" not in screen  # --color never


def test_ctrl_c_prints_what_was_seen(world: ThreadedWorld) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        command("slow@tarpit.test", *world_args(world)),
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**ENV, "TERM": "xterm"},
    )
    os.close(follower)
    screen = b""
    try:
        end = time.monotonic() + 30
        while b"waiting for the banner" not in screen and time.monotonic() < end:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                screen += os.read(leader, 65536)
        proc.send_signal(2)  # Ctrl-C while the tarpit keeps silent
        while True:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if not ready and proc.poll() is not None:
                break
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                screen += chunk
        proc.wait(20)
    finally:
        os.close(leader)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == ExitStatus.INTERRUPTED, text
    assert "mx.tarpit.test [127.0.0.4]" in text and "CONNECT" in text  # what was seen
    assert "interrupted after" in text and "Traceback" not in text
    assert "BANNER" not in text  # the banner never came


# -- safe defaults and the configuration file --------------------------------------------------


def test_local_helo_is_warned_about(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a for a in world_args(world, helo=False)]
    code, out, _ = run(capsys, "a@alpha.test", "--json", "--helo", "localhost.localdomain", *args)
    warnings = json.loads(out)["warnings"]
    assert any("--helo" in w and "localhost.localdomain" in w for w in warnings)
    _code, out, _ = run(capsys, "a@alpha.test", "--json", "--helo", "nowhere.client.test", *args)
    assert any("does not resolve" in w for w in json.loads(out)["warnings"])
    _code, out, _ = run(capsys, "a@alpha.test", "--json", "--helo", "probe.client.test", *args)
    assert json.loads(out)["warnings"] == []


def test_config_file_sets_identity_and_flags_override_it(
    world: ThreadedWorld, handler: MailHandler, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = world.dns_address
    config = tmp_path / "config.toml"
    config.write_text(
        'helo = "probe.client.test"\nmail_from = "cfg@client.test"\n'
        f'dns_servers = ["{host}:{port}"]\nlang = "it"\n[politeness]\nconcurrency = 3\n'
    )
    base = ["--port", str(world.port), "--allow-private", "--no-catch-all-check"]
    before = len(handler.commands)
    code, out, _ = run(capsys, "a@alpha.test", "-q", "--config", str(config), *base)
    assert code == 0 and "CONSEGNABILE" in out
    sent = handler.commands[before:]
    assert "MAIL cfg@client.test" in sent and "EHLO probe.client.test" in sent, sent
    before = len(handler.commands)
    os.environ["PROBER_CONFIG"] = str(config)
    try:
        code, out, _ = run(capsys, "a@alpha.test", "-q", "--lang", "en",
                           "--mail-from", "flag@client.test", *base)  # fmt: skip
    finally:
        del os.environ["PROBER_CONFIG"]
    assert "DELIVERABLE" in out  # --lang en beat the file's lang
    assert "MAIL flag@client.test" in handler.commands[before:]  # --mail-from beat it too
    bad = tmp_path / "bad.toml"
    bad.write_text("[politeness]\nconcurency = 3\n")
    code, _out, err = run(capsys, "a@alpha.test", "--config", str(bad))
    assert code == ExitStatus.ERROR and "unknown key 'politeness.concurency'" in err
    code, _out, err = run(capsys, "a@alpha.test", "--config", str(tmp_path / "none.toml"))
    assert code == ExitStatus.ERROR and "does not exist" in err


# -- CLI manners ---------------------------------------------------------------------------


def test_help_everywhere_reads_well(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("check", "explain", "demo", "diagnose", "preflight"):
        code, out, _ = run(capsys, name, "-h")
        assert code == 0 and out.startswith(f"Usage: probe {name}")
        assert "--no-no-" not in out and "<list[str]>" not in out
        assert " TEXT " not in out and " FLOAT " not in out and " INTEGER " not in out
    code, out, _ = run(capsys, "-h")
    assert code == 0 and "--install-completion" in out


def test_completion_script_and_protocol() -> None:
    shown = subprocess.run(
        command("--show-completion", "bash"), capture_output=True, env=ENV, timeout=30
    )
    assert shown.returncode == 0 and b"_PROBE_COMPLETE" in shown.stdout
    env = {**ENV, "_PROBE_COMPLETE": "complete_bash", "_TYPER_COMPLETE_ARGS": "probe dia",
           "COMP_WORDS": "probe dia", "COMP_CWORD": "1"}  # fmt: skip
    completed = subprocess.run(command(), capture_output=True, env=env, timeout=30)
    assert completed.stdout.split() == [b"diagnose"]


def test_colour_follows_the_flag_and_the_environment(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from prober.cli import colour_wanted

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert colour_wanted("auto", Tty(), {}) is True
    assert colour_wanted("auto", Tty(), {"NO_COLOR": "1"}) is False
    assert colour_wanted("auto", Tty(), {"TERM": "dumb"}) is False
    assert colour_wanted("auto", io.StringIO(), {"FORCE_COLOR": "1"}) is True
    assert colour_wanted("never", Tty(), {"FORCE_COLOR": "1"}) is False
    assert colour_wanted("always", io.StringIO(), {"NO_COLOR": "1"}) is True
    _code, out, _ = run(capsys, "b@alpha.test", "--color", "always", *world_args(world))
    assert "\x1b[31m" in out  # red UNDELIVERABLE, though not a terminal
    _code, out, _ = run(capsys, "b@alpha.test", *world_args(world))
    assert "\x1b[" not in out
    code, _out, err = run(capsys, "b@alpha.test", "--color", "sometimes")
    assert code == ExitStatus.ERROR and "--color" in err


def test_closed_pipe_exits_quietly(world: ThreadedWorld) -> None:
    # As `probe … | head -1`: far more text than a pipe holds, and the reader leaves.
    addresses = [f"u{i}@alpha.test" for i in range(150)]
    proc = subprocess.Popen(
        command(*addresses, "-v", *world_args(world)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    proc.wait(60)
    assert first.startswith(b"u0@alpha.test: ")
    assert proc.returncode == ExitStatus.CLOSED, err
    assert b"Broken pipe" not in err and b"Exception" not in err and b"Traceback" not in err
    # A single probe's transcript into a closed pipe: quiet too.
    shell = " ".join(command("a@alpha.test", "-v", *world_args(world))) + " | head -1"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, env=ENV, timeout=60)
    assert done.stdout.decode().startswith("a@alpha.test")
    assert b"Broken pipe" not in done.stderr and b"Exception" not in done.stderr


def test_explain_without_a_code_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", "hello world")
    assert code == ExitStatus.ERROR and out == ""
    assert "No reply code" in err
    code, _out, err = run(capsys, "explain", "hello world", "--lang", "it")
    assert code == ExitStatus.ERROR and "non è stato trovato alcun codice" in err


def test_diagnose_takes_the_domain_of_an_address(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = world.dns_address
    code, out, _ = run(
        capsys, "diagnose", "alice@alpha.test", "--json", "--dns-server", f"{host}:{port}",
        "--port", str(world.port), "--allow-private", "--helo", "probe.client.test",
        "--timeout", "3", "--deadline", "20", "--no-relay-test",
    )  # fmt: skip
    assert json.loads(out)["domain"] == "alpha.test"


def test_man_page_is_generated_from_the_current_help() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "manpage.py"), "--check"],
        capture_output=True,
        env=ENV,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    page = (ROOT / "man" / "probe.1").read_text()
    assert ".TH PROBE 1" in page and "\\-\\-format" in page and ".SH DIAGNOSE" in page
    italian = (ROOT / "man" / "it" / "probe.1").read_text()
    assert ".SH OPZIONI" in italian and "Scrivere i risultati in FILE." in italian


def test_551_names_the_new_address_and_durations_are_milliseconds(
    world: ThreadedWorld, handler: MailHandler, capsys: pytest.CaptureFixture[str]
) -> None:
    # RFC 5321 section 3.4's example reply, as a server that knows where the user went.
    handler.rcpt = {
        **handler.rcpt,
        "moved@alpha.test": "551 5.1.6 User not local; please try <m@new.test>",
    }  # noqa: E501
    code, out, _ = run(capsys, "moved@alpha.test", "--json", *world_args(world))
    data = json.loads(out)
    assert data["forward_to"] == "m@new.test"
    assert "retry_after" not in data and "elapsed" not in data
    assert isinstance(data["elapsed_ms"], float)
    _code, text, _ = run(capsys, "moved@alpha.test", *world_args(world))
    assert "new address: m@new.test" in text
    _code, table, _ = run(capsys, "moved@alpha.test", "--format", "csv", "-q", *world_args(world))
    header, row = list(csv.reader(table.splitlines()))
    assert dict(zip(header, row, strict=True))["forward_to"] == "m@new.test"


def test_a_syntax_refusal_is_not_shown_as_a_server_reply(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "not an address", "--json")
    why = json.loads(out)["explanation"]
    assert why["code"] is None and why["rule"] == "local:syntax"
    _code, text, _ = run(capsys, "not an address")
    assert "Server said" not in text and "501" not in text
    assert "What happened: The address contains a space" in text


def test_csv_round_trip_survives_kill_9_and_resumes_exactly(tmp_path: Path) -> None:
    import random
    import signal

    class Slow(MailHandler):
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.003)
            return await super().handle_RCPT(server, session, envelope, address, options)

    rows = ["id;nome;Email;note\r\n"]
    for i in range(240):
        email = "" if i % 37 == 0 else f"user{i}@alpha.test"
        note = f'"riga {i}\r\ncon a capo"' if i % 11 == 0 else f"n{i}"
        rows.append(f"{i};Persona {i};{email};{note}\r\n")
    source = tmp_path / "crm.csv"
    source.write_bytes("".join(rows).encode())
    out = tmp_path / "out.csv"
    mail = Slow(rcpt={f"user{i}@alpha.test": "250 2.1.5 Ok" for i in range(0, 240, 2)},
                default="550 5.1.1 No such user")  # fmt: skip
    rng = random.Random()
    with ThreadedWorld(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", mail)]) as world:
        argv = command(
            "-f", str(source), "-o", str(out), "--resume", "--concurrency", "2",
            "--rcpt-per-transaction", "5", *world_args(world),
        )  # fmt: skip
        kills = 0
        for _ in range(4):
            before = out.stat().st_size if out.exists() else 0
            proc = subprocess.Popen(argv, env=ENV, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
            for _poll in range(2000):
                if proc.poll() is not None:
                    break
                if out.exists() and out.stat().st_size > before + 200:
                    time.sleep(rng.uniform(0.0, 0.1))
                    break
                time.sleep(0.005)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait()
        done = subprocess.run(argv, env=ENV, capture_output=True, timeout=120)
        assert done.returncode == ExitStatus.UNDELIVERABLE, done.stderr
    assert kills >= 1
    written = _records(out.read_bytes())
    originals = _records(source.read_bytes())
    assert len(written) == len(originals)  # no record lost, none repeated
    for original, result in zip(originals, written, strict=True):
        assert result.startswith(original.removesuffix(b"\r\n") + b";")
    table = list(csv.reader(io.StringIO(out.read_text(), newline=""), delimiter=";"))
    for row in table[1:]:
        number = int(row[0])
        expected = (
            "" if number % 37 == 0 else ("deliverable" if number % 2 == 0 else "undeliverable")
        )
        assert row[4] == expected, row


def test_csv_rows_travel_into_json_lines_and_stdin_csv_by_format(world: ThreadedWorld) -> None:
    table = b"nome;posta\r\nAnna;anna@alpha.test\r\n"
    # The header names no address column: --format csv on standard input says "CSV",
    # and the column must then be named.
    asked = subprocess.run(
        command("-f", "-", "--format", "csv", *world_args(world)),
        input=table, capture_output=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert asked.returncode == ExitStatus.ERROR and b"--column" in asked.stderr
    named = subprocess.run(
        command("-f", "-", "--column", "posta", "--format", "jsonl", *world_args(world)),
        input=table, capture_output=True, env=ENV, timeout=60,
    )  # fmt: skip
    record = json.loads(named.stdout)
    assert record["verdict"] == "deliverable"
    assert record["input"] == {"nome": "Anna", "posta": "anna@alpha.test"}
    # A plain list piped in with --format csv stays a plain list.
    plain = subprocess.run(
        command("-f", "-", "--format", "csv", *world_args(world)),
        input=b"anna@alpha.test\n", capture_output=True, env=ENV, timeout=60,
    )  # fmt: skip
    assert plain.stdout.decode().splitlines()[1].startswith("anna@alpha.test,anna@alpha.test,")


def test_reorder_holds_early_results_until_their_turn() -> None:
    from prober.output.listio import Reorder

    order = Reorder(start=10)
    assert order.put(12, "c") == [] and order.put(11, "b") == []
    assert order.waiting == 2
    assert order.put(10, "a") == ["a", "b", "c"] and order.waiting == 0
    assert order.put(13, "d") == ["d"]


async def test_a_slow_first_address_with_a_small_reorder_bound_still_finishes_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import random as _random

    from prober.engine import bulk
    from tests.conftest import options_for, world_of

    monkeypatch.setattr(bulk, "REORDER_BOUND", 3)
    hosts = [MailHost("mx.alpha.test", "127.0.0.2", MailHandler(default="250 2.1.5 Ok")), tarpit()]
    addresses = ["slow@tarpit.test"] + [f"u{i}@alpha.test" for i in range(12)]
    async with world_of(ZONE, hosts) as world:
        options = bulk.ListOptions(probe=options_for(world, catch_all_check=False))
        out, err = io.StringIO(), io.StringIO()
        code = await bulk.run_list_async(
            addresses, None, options, stdout=out, stderr=err, rng=_random.Random(1)
        )
    assert code == 0, err.getvalue()
    assert [json.loads(x)["address"] for x in out.getvalue().splitlines()] == addresses


def test_quiet_and_verbose_mean_the_same_for_two_addresses(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    _code, out, err = run(capsys, "a@alpha.test", "b@alpha.test", "-q", *world_args(world))
    assert (
        out
        == "a@alpha.test: DELIVERABLE (accepted)\nb@alpha.test: UNDELIVERABLE (mailbox_unknown)\n"
    )
    assert err == ""  # no summary either
    _code, plain, _ = run(capsys, "a@alpha.test", "b@alpha.test", *world_args(world))
    _code, verbose, _ = run(capsys, "a@alpha.test", "b@alpha.test", "-v", *world_args(world))
    assert len(verbose) > len(plain) and "Who acts" in verbose
    code, _out, err = run(capsys, "a@alpha.test", "-v", "--format", "csv", *world_args(world))
    assert code == ExitStatus.ERROR and "--verbose" in err


def test_csv_read_jsonl_written_resumes(world: ThreadedWorld, tmp_path: Path) -> None:
    source = tmp_path / "crm.csv"
    source.write_bytes(CRM.encode("utf-8"))
    out = tmp_path / "out.jsonl"
    argv = command("-f", str(source), "-o", str(out), *world_args(world))
    subprocess.run(argv, capture_output=True, env=ENV, timeout=60)
    whole = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["input"]["id"] for r in whole] == ["1", "2", "3", "4", "5"]
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:2]))
    again = subprocess.run([*argv, "--resume"], capture_output=True, env=ENV, timeout=60)
    assert b"2 already in the output" in again.stderr, again.stderr
    resumed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["input"]["id"] for r in resumed] == ["1", "2", "3", "4", "5"]


def test_no_bar_over_results_scrolling_on_the_same_terminal(
    world: ThreadedWorld, tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"u{i}@alpha.test\n" for i in range(20)))
    screen = in_terminal(command("-f", str(listing), "--format", "jsonl", *world_args(world)))
    assert "/20" not in screen and screen.count('"address"') == 20


def test_compact_json_lines_leave_the_transcript_out(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    addresses = ["a@alpha.test", "b@alpha.test"]
    _code, out, _ = run(capsys, *addresses, "--format", "jsonl", "--compact", *world_args(world))
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["verdict"] for r in records] == ["deliverable", "undeliverable"]
    assert all("attempts" not in r and "mx" not in r and "summary" in r for r in records)
    assert max(len(line) for line in out.splitlines()) < 600
    code, _out, err = run(capsys, *addresses, "--compact", *world_args(world))
    assert code == ExitStatus.ERROR and "--compact" in err


def test_config_loader_finds_checks_and_applies(tmp_path: Path) -> None:
    from prober.config import default_path, find_config, load_config, parse_config
    from prober.errors import InputError

    home = {"HOME": "/home/anna"}
    assert default_path(home, "linux") == Path("/home/anna/.config/prober/config.toml")
    assert default_path({**home, "XDG_CONFIG_HOME": "/x"}, "linux") == Path("/x/prober/config.toml")
    assert default_path(home, "darwin").parts[-4:] == (
        "Library", "Application Support", "prober", "config.toml"
    )  # fmt: skip
    assert default_path({**home, "APPDATA": "C:/A"}, "win32") == Path("C:/A/prober/config.toml")
    xdg = tmp_path / "xdg"
    (xdg / "prober").mkdir(parents=True)
    (xdg / "prober" / "config.toml").write_text('helo = "probe.example.test"\n')
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(xdg)}
    assert find_config(None, env) == xdg / "prober" / "config.toml"
    assert load_config(None, env).helo == "probe.example.test"
    assert find_config(None, {"HOME": str(tmp_path)}) is None  # no file: no configuration
    config = parse_config(
        {"dns_servers": ["127.0.0.53:5353"], "lang": "it", "politeness": {"rate": 2}}
    )
    options = config.probe_options()
    assert options.dns.servers == (("127.0.0.53", 5353),) and options.lang == "it"
    assert config.command_defaults() == {
        "dns_server": ["127.0.0.53:5353"], "lang": "it", "rate": 2.0
    }  # fmt: skip
    for bad, says in (
        ({"helo": 3}, "helo must be of type str"),
        ({"lang": "de"}, "lang must be"),
        ({"politeness": {"per_host": 0}}, "at least 1"),
        ({"dns_servers": ["not a server"]}, "dns_servers"),
        ({"mail_from": "a@b>"}, "MAIL FROM"),
    ):
        with pytest.raises(InputError, match=says):
            parse_config(bad)


def test_live_transcript_ends_with_the_tls_outcome(tmp_path: Path) -> None:
    import trustme

    from tests.certs import ca_file, issue, server_context

    ca = trustme.CA()
    zone = {
        "tls.test.": [("MX", 10, "mx.tls.test.")],
        "mx.tls.test.": [("A", "127.0.0.5")],
    }
    host = MailHost(
        "mx.tls.test", "127.0.0.5", MailHandler(default="250 2.1.5 Ok"),
        tls_context=server_context(issue(ca, "mx.tls.test")),
    )  # fmt: skip
    with ThreadedWorld(zone, [host]) as world:
        screen = in_terminal(
            command("a@tls.test", "--tls-ca-file", ca_file(ca, tmp_path), *world_args(world))
        )
    assert "STARTTLS" in screen
    assert "mx.tls.test: TLS TLSv1." in screen and "(verified)" in screen
