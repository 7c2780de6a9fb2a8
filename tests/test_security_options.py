"""Every option is refused when the options are made, before any packet.

A bad option is the user's to fix, so it is a usage error (status 2) with a message that
says what to write instead — never an ``unknown``/``no_connection`` result for every
address of a list, and never a failure after DNS and EHLO. Each case runs the real
command against a loopback world whose DNS server and mail server record what reaches
them: nothing may.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from prober.cli import main
from prober.errors import InputError
from prober.results import ProbeOptions, check_mail_from, check_proxy
from prober.testing.world import MailHost, ThreadedWorld

ZONE = {
    "example.test.": [("MX", 10, "mx1.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
}


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[ThreadedWorld, list[bytes]]]:
    seen: list[bytes] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(b"connection")
        writer.write(b"554 5.7.1 no\r\n")
        await writer.drain()

    with ThreadedWorld(ZONE, [MailHost("mx1.example.test", "127.0.0.2", script=script)]) as w:
        yield w, seen


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


BAD = [
    # (options, words the message must hold)
    (["--proxy", "socks5://"], "names no host"),
    (["--proxy", "socks5://proxy.test:99999"], "1 to 65535"),
    (["--proxy", "socks5://[::1"], "never closes"),
    (["--proxy", "socks5://[::1]"], "no port"),
    (["--proxy", "http://proxy.test:8080"], "SOCKS 4 and 5 only"),
    (["--proxy", "proxy.test:1080"], "not a SOCKS proxy URL"),
    (["--proxy", "socks5://proxy.test"], "no port"),
    (["--proxy", "socks5://proxy.test:１０８０"], "not ASCII"),
    (["--proxy", "socks5://proxy.test:1080/path"], "path"),
    (["--mail-from", "böb@client.test"], "SMTPUTF8"),
    (["--mail-from", "bob@bücher.test"], "xn--bcher-kva.test"),
    (["--mail-from", "postmaster"], "local@domain"),
    (["--mail-from", "a@b.test> SIZE=1"], "'<', '>'"),
    (["--source-address", "not-an-ip"], "not an IP address"),
    (["--port", "0"], "1 and 65535"),
    (["--port", "70000"], "1 and 65535"),
    (["--timeout", "nan"], "above 0"),
    (["--deadline", "inf"], "above 0"),
    (["--connect-timeout", "-1"], "above 0"),
    (["--dns-timeout", "0"], "above 0"),
    (["--dns-server", "127.0.0.1:5３"], "0-9"),
    (["--dns-server", "127.0.0.1:99999"], "1 to 65535"),
    (["--tls-ca-file", "/nonexistent/ca.pem"], "trust anchors"),
    (["--helo", "bad name"], "HELO"),
    (["--rate", "nan"], "above 0"),
    (["--greylist-retry", "inf"], "not infinite"),
    (["--lang", "fr"], "en or it"),
]


@pytest.mark.parametrize(("options", "says"), BAD, ids=[" ".join(o) for o, _ in BAD])
@pytest.mark.parametrize("mode", ["single", "list"])
def test_bad_options_are_usage_errors_before_any_packet(
    world: tuple[ThreadedWorld, list[bytes]],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    says: str,
    mode: str,
) -> None:
    running, seen = world
    host, port = running.dns_address
    asked = len(running.world.dns.queries)
    addresses = ["alice@example.test"] + (["bob@example.test"] if mode == "list" else [])
    code, out, err = run(
        capsys, *addresses, "--dns-server", f"{host}:{port}", "--port", str(running.port),
        "--allow-private", "--helo", "probe.client.test", "--mail-from", "check@client.test",
        *options,
    )  # fmt: skip
    assert code == 2, (out, err)
    assert says in err, err
    assert "Traceback" not in err and "unexpected" not in err
    assert out == ""
    assert len(running.world.dns.queries) == asked and seen == []


@pytest.mark.parametrize(
    ("command", "options", "says"),
    [
        ("diagnose", ["example.test", "--proxy", "socks5://[::1"], "never closes"),
        ("diagnose", ["example.test", "--timeout", "nan"], "above 0"),
        ("diagnose", ["example.test", "--source-address", "x"], "not an IP address"),
        ("diagnose", ["example.test", "--tls-ca-file", "/nonexistent"], "trust anchors"),
        ("diagnose", ["example.test", "--helo", "a b"], "host name"),
        ("preflight", ["--proxy", "http://p.test:3128"], "SOCKS"),
        ("preflight", ["--target", "mx.example.test:99999"], "1 to 65535"),
        ("preflight", ["--target", "mx.example.test:２５"], "1 to 65535"),
        ("preflight", ["--target", "[::1"], "IPv6"),
        ("preflight", ["--check-ip", "not-an-ip"], "not an IP address"),
        ("preflight", ["--blocklist", "bad zone"], "DNS zone"),
        ("preflight", ["--deadline", "0"], "above 0"),
    ],
)
def test_diagnose_and_preflight_options_too(
    world: tuple[ThreadedWorld, list[bytes]],
    capsys: pytest.CaptureFixture[str],
    command: str,
    options: list[str],
    says: str,
) -> None:
    running, seen = world
    host, port = running.dns_address
    asked = len(running.world.dns.queries)
    code, out, err = run(
        capsys, command, *options, "--dns-server", f"{host}:{port}", "--allow-private"
    )
    assert code == 2 and says in err, err
    assert len(running.world.dns.queries) == asked and seen == []


def test_good_proxies_pass() -> None:
    for url in (
        "socks5://proxy.test:1080",
        "socks5://user:secret@proxy.test:1080",
        "socks4://192.0.2.7:1080",
        "SOCKS5://[2001:db8::7]:1080",
        "socks5://proxy.test:1080/",
    ):
        check_proxy(url)
        ProbeOptions(proxy=url)


def test_the_library_refuses_the_same_options() -> None:
    for changes in (
        {"proxy": "socks5://"},
        {"mail_from": "böb@client.test"},
        {"timeout": math.nan},
        {"deadline": 0},
        {"port": 99999},
        {"source_address": "x"},
        {"lang": "de"},
        {"tls_ca_file": "/nonexistent/ca.pem"},
    ):
        with pytest.raises(InputError):
            ProbeOptions(**changes)  # type: ignore[arg-type]
    check_mail_from("check@client.test")
    ProbeOptions(mail_from="")  # the null sender


def test_a_good_ca_file_passes(
    tmp_path: Path, world: tuple[ThreadedWorld, list[bytes]], capsys: pytest.CaptureFixture[str]
) -> None:
    import trustme

    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    running, _seen = world
    host, port = running.dns_address
    code, out, err = run(
        capsys, "alice@example.test", "--json", "--dns-server", f"{host}:{port}",
        "--port", str(running.port), "--allow-private", "--helo", "probe.client.test",
        "--mail-from", "check@client.test", "--tls-ca-file", str(ca), "--timeout", "3",
    )  # fmt: skip
    assert code == 4 and '"verdict": "unknown"' in out, err  # the 554 banner, reached
