"""Terminal safety: nothing from outside reaches the terminal as control sequences.

One hostile string — an OSC title change, a screen clear, a carriage return, a bidi
override and isolate, a C1 CSI, a zero-width space — is planted in every kind of
outside text: SMTP replies, DNS TXT records (SPF, DMARC, MTA-STS, TLS-RPT), a blocklist
reason, a certificate subject, a pasted reply, a bounce message, lines of a list file.
Every command's text output must show it escaped (``\\x1b`` …) and hold no character a
terminal would obey; every JSON output must hold it exactly (it decodes back to the
same string) and still carry no raw C1, bidi or format character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from prober.cli import main
from prober.output.render import result_text
from prober.output.terminal import is_unsafe, json_safe, safe, safe_block
from prober.results import ProbeOptions
from prober.testing.world import MailHandler, MailHost, ThreadedWorld
from tests.certs import ca_file, server_context

EVIL = "\x1b]0;pwned\x07\x1b[2J\rX\u202eevil\u2066\x9b31m\u200bend"
SHOWN = "\\x1b]0;pwned\\x07\\x1b[2J\\x0dX\\u202eevil\\u2066\\x9b31m\\u200bend"


def assert_terminal_safe(text: str) -> None:
    bad = sorted({f"U+{ord(c):04X}" for c in text if c != "\n" and is_unsafe(c)})
    assert not bad, f"unsafe characters reach the terminal: {bad}"


def assert_json_exact_and_safe(text: str, must_hold: str = EVIL) -> None:
    assert_terminal_safe(text.replace("\n", ""))  # raw; escapes are plain ASCII
    values: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, str):
            values.append(node)
        elif isinstance(node, dict):
            for v in node.values():
                collect(v)
        elif isinstance(node, list):
            for v in node:
                collect(v)

    for line in [text] if text.lstrip().startswith("{\n") else text.splitlines():
        if line.strip():
            collect(json.loads(line))
    assert any(must_hold in v for v in values), "the hostile text is not kept exactly"


# -- the function itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    "char",
    ["\x00", "\x07", "\x08", "\t", "\r", "\x1b", "\x7f", "\x85", "\x9b", "\xad", "\u061c",
     "\u200b", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202b", "\u202c",
     "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\U000e0041",
     "\udcff", "\u3164", "\u115f"],
)  # fmt: skip
def test_every_dangerous_character_is_escaped(char: str) -> None:
    shown = safe(f"a{char}b")
    assert_terminal_safe(shown)
    assert shown.startswith("a\\") and shown.endswith("b")
    document = json.dumps({"v": f"a{char}b"}, ensure_ascii=False)
    assert json.loads(json_safe(document)) == {"v": f"a{char}b"}
    assert_terminal_safe(json_safe(document))


def test_ordinary_text_is_unchanged() -> None:
    for text in ("plain ASCII", "perché è già così", "日本語のメール", "Ünïcödé 👍", ""):
        assert safe(text) == text and safe_block(text) == text
        assert json_safe(json.dumps(text, ensure_ascii=False)) == json.dumps(
            text, ensure_ascii=False
        )
    assert safe_block("one\ntwo") == "one\ntwo" and safe("one\ntwo") == "one\\x0atwo"


# -- every command -------------------------------------------------------------------------

ZONE = {
    "hostile.test.": [
        ("MX", 10, "mx.hostile.test."),
        ("TXT", f"v=spf1 {EVIL} -all"),
    ],
    "mx.hostile.test.": [("A", "127.0.0.2")],
    "_dmarc.hostile.test.": [("TXT", f"v=DMARC1; p=none; rua=mailto:{EVIL}")],
    "_mta-sts.hostile.test.": [("TXT", f"v=STSv1; id={EVIL}")],
    "_smtp._tls.hostile.test.": [("TXT", f"v=TLSRPTv1; rua={EVIL}")],
    "2.0.0.127.bl.test.": [("A", "127.0.0.2"), ("TXT", f"Listed: {EVIL}")],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadedWorld, str]]:
    ca = trustme.CA()
    leaf = ca.issue_cert("mx.hostile.test", organization_unit_name=EVIL)
    handler = MailHandler(default=f"550 5.1.1 {EVIL}", extra_extensions=(f"X-{EVIL}",))
    host = MailHost("mx.hostile.test", "127.0.0.2", handler, tls_context=server_context(leaf))
    with ThreadedWorld(ZONE, [host]) as world:
        yield world, ca_file(ca, tmp_path_factory.mktemp("ca"))
        assert world.data_received() == 0


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def common(world: ThreadedWorld, ca: str) -> list[str]:
    host, port = world.dns_address
    return [
        "--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private",
        "--helo", "probe.client.test", "--timeout", "3", "--tls-ca-file", ca,
    ]  # fmt: skip


def test_probe_transcript(
    lab: tuple[ThreadedWorld, str], capsys: pytest.CaptureFixture[str]
) -> None:
    world, ca = lab
    args = [*common(world, ca), "--mail-from", "check@client.test", "-v"]
    _code, out, err = run(capsys, "bob@hostile.test", *args)
    assert_terminal_safe(out + err)
    assert "\\x1b" in out  # the reply was shown, escaped
    _code, out, _err = run(capsys, "bob@hostile.test", "--json", *args[:-1])  # no -v
    assert_json_exact_and_safe(out, "550")  # replies are kept as the parser read them
    assert_terminal_safe(out)


def test_probe_transcript_in_colour(lab: tuple[ThreadedWorld, str]) -> None:
    import asyncio

    from prober.engine.session import probe
    from prober.resolve.mx import DNSConfig

    world, ca = lab
    options = ProbeOptions(
        helo="probe.client.test", mail_from="check@client.test", port=world.port,
        allow_private=True, tls_ca_file=ca, timeout=3,
        dns=DNSConfig(servers=(world.dns_address,)),
    )  # fmt: skip
    result = asyncio.run(probe(f"b{EVIL[:12]}@hostile.test", options))
    text = result_text(result, "en", verbose=True, colour=True)
    ours = re.sub(r"\x1b\[[0-9]+m", "", text)  # the colour codes prober adds itself
    assert "\x1b[" in text and ours != text
    assert_terminal_safe(ours)


def test_diagnose(lab: tuple[ThreadedWorld, str], capsys: pytest.CaptureFixture[str]) -> None:
    world, ca = lab
    _code, out, err = run(capsys, "diagnose", "hostile.test", *common(world, ca))
    assert_terminal_safe(out + err)
    assert SHOWN[:30] in out  # SPF, DMARC … shown escaped
    _code, out, _err = run(capsys, "diagnose", "hostile.test", "--json", *common(world, ca))
    assert_json_exact_and_safe(out)


def test_preflight_blocklist_reason(
    lab: tuple[ThreadedWorld, str], capsys: pytest.CaptureFixture[str]
) -> None:
    world, _ca = lab
    host, port = world.dns_address
    args = ["preflight", "--dns-server", f"{host}:{port}", "--allow-private",
            "--helo", "mx.hostile.test", "--target", f"127.0.0.2:{world.port}",
            "--check-ip", "127.0.0.2", "--blocklist", "bl.test", "--timeout", "3"]  # fmt: skip
    _code, out, err = run(capsys, *args)
    assert_terminal_safe(out + err)
    assert "\\x1b" in out
    _code, out, _err = run(capsys, *args, "--json")
    assert_json_exact_and_safe(out)


def test_explain_pasted_text(capsys: pytest.CaptureFixture[str]) -> None:
    _code, out, err = run(capsys, "explain", f"550 5.1.1 {EVIL}")
    assert_terminal_safe(out + err)
    assert "\\x1b]0;pwned\\x07" in out and "\\u202eevil" in out
    _code, out, _err = run(capsys, "explain", "--json", f"550 5.1.1 {EVIL}")
    assert_json_exact_and_safe(out, EVIL.replace("\r", " "))  # a pasted CR ends a line


def test_explain_bounce(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(
        (
            "From: MAILER-DAEMON@mx.hostile.test\r\nTo: a@client.test\r\n"
            "Subject: Undelivered Mail Returned to Sender\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            "I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
            f"<bob@hostile.test>: host mx.hostile.test[127.0.0.2] said: 550 5.1.1 {EVIL}\r\n"
        ).encode()
    )
    _code, out, err = run(capsys, "explain", str(bounce))
    assert_terminal_safe(out + err)
    assert "\\x1b" in out
    _code, out, _err = run(capsys, "explain", "--json", str(bounce))
    assert_json_exact_and_safe(out, EVIL.split("\r")[0])  # a CR ends a line of mail


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_list_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"al{EVIL}ice@hostile.test\n{EVIL}\n", encoding="utf-8")
    _code, out, err = run(
        capsys, "--file", str(listing), "--format", fmt, "--dns-server", "127.0.0.1:9",
        "--dns-timeout", "0.2",
    )  # fmt: skip
    assert_terminal_safe(out + err)
    if fmt == "jsonl":
        assert_json_exact_and_safe(out)
    else:
        assert "\\x1b" in out


def test_error_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _code, _out, err = run(capsys, "explain", f"{EVIL}.eml")
    assert_terminal_safe(err)
    _code, _out, err = run(capsys, "--file", str(tmp_path / f"{EVIL}.txt"))
    assert_terminal_safe(err)


def test_usage_errors_quote_what_was_typed_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(capsys, "a@b.test", f"--{EVIL}")
    assert code == 2 and "Usage:" in err and "\\x1b" in err  # "No such option: --…"
    assert_terminal_safe(err)


# -- through a real terminal ---------------------------------------------------------------


def _on_a_terminal(args: list[str], timeout: float = 60) -> str:
    """Run ``probe`` with stdout on a pseudo-terminal (so it colours), return what the
    terminal received."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "prober", *args],
        stdout=slave, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    os.close(slave)
    received = bytearray()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the other side closed (EIO on Linux)
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    _, err = proc.communicate(timeout=10)
    os.close(master)
    assert b"Traceback" not in err, err
    return received.decode("utf-8", "replace").replace("\r\n", "\n")


def test_the_coloured_transcript_on_a_real_terminal(lab: tuple[ThreadedWorld, str]) -> None:
    world, ca = lab
    shown = _on_a_terminal(
        ["bob@hostile.test", *common(world, ca), "--mail-from", "check@client.test", "-v"]
    )
    assert "\x1b[" in shown and "\\x1b" in shown  # our colours, and the reply escaped
    assert_terminal_safe(re.sub(r"\x1b\[[0-9]+m", "", shown))


def test_csv_on_a_real_terminal_is_escaped(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"al{EVIL}ice@hostile.test\n", encoding="utf-8")
    shown = _on_a_terminal(
        ["--file", str(listing), "--format", "csv", "-q", "--dns-server", "127.0.0.1:9",
         "--dns-timeout", "0.2"]  # fmt: skip
    )
    assert shown.startswith("address,") and "\\x1b" in shown
    assert_terminal_safe(shown)
