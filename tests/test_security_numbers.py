"""Numbers from outside text are read with ASCII digits only.

``str.isdigit`` is true for "¹²³", ``int`` reads "١٢٣" (Arabic-Indic) and "１２３"
(fullwidth), and the regex ``\\d`` matches all of them. A server's SIZE, reply codes,
retry hints, ports on the command line: none is a number unless it is written 0-9.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prober.cli import main
from prober.diagnose.domain import Extensions
from prober.engine.verdict import retry_hint
from prober.errors import InputError
from prober.numbers import ascii_int, ascii_port, is_ascii_digits
from prober.resolve.mx import parse_dns_server
from prober.smtp.reply import ReplyParser, parse_pasted
from prober.testing.world import MailHost, ThreadedWorld

UNICODE_DIGITS = ["¹²³", "١٢٣", "１２３", "३२१", "𝟙𝟚𝟛", "²5", "5²"]


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_non_ascii_digits_are_not_numbers(text: str) -> None:
    assert ascii_int(text) is None and ascii_port(text) is None
    assert not is_ascii_digits(text)


def test_ascii_numbers_and_bounds() -> None:
    assert ascii_int("0") == 0 and ascii_int("0025") == 25
    assert ascii_port("65535") == 65535 and ascii_port("65536") is None
    assert ascii_port("0") is None and ascii_port("+25") is None and ascii_port(" 25") is None
    assert ascii_int("1_000") is None and ascii_int("") is None
    assert ascii_int("9" * 5000) is None  # int() would raise past 4300 digits


@given(st.text(max_size=30))
def test_ascii_int_agrees_with_the_grammar(text: str) -> None:
    value = ascii_int(text)
    if value is None:
        assert not (0 < len(text) <= 20 and all(c in "0123456789" for c in text))
    else:
        assert str(value) == text.lstrip("0") or (value == 0 and set(text) == {"0"})


@pytest.mark.parametrize("size", [*UNICODE_DIGITS, "-5", "1e9", "9" * 5000, ""])
def test_size_with_odd_digits_is_unknown_not_a_crash(size: str) -> None:
    assert Extensions.from_keywords({"SIZE": size}).size_mb is None
    assert Extensions.from_keywords({"SIZE": "35882577"}).size_mb == 35.9


@pytest.mark.parametrize("text", ["try again in ５ minutes", "retry in ٣٠ seconds", "wait ²s"])
def test_retry_hints_need_ascii_digits(text: str) -> None:
    assert retry_hint(text) is None
    assert retry_hint("try again in 5 minutes") == 300


@pytest.mark.parametrize("code", ["５５０", "٥٥٠", "55０"])
def test_pasted_replies_need_ascii_codes(code: str) -> None:
    assert parse_pasted(f"{code} 5.1.1 no such user").code is None
    assert parse_pasted(f"{code}-5.1.1 no such user").code is None
    assert parse_pasted("550 5.1.1 no such user").code == 550


def test_server_replies_need_ascii_codes() -> None:
    parser = ReplyParser()
    with pytest.raises(Exception, match="three-digit code"):
        parser.feed("２５０ ok\r\n".encode())


@pytest.mark.parametrize("port", ["5³", "５３", "٥٣"])
def test_dns_server_ports_need_ascii_digits(port: str) -> None:
    with pytest.raises(InputError, match="0-9"):
        parse_dns_server(f"127.0.0.1:{port}")


ZONE = {
    "sized.test.": [("MX", 10, "mx.sized.test.")],
    "mx.sized.test.": [("A", "127.0.0.2")],
}


def ehlo_server(size: bytes) -> Callable[..., object]:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.sized.test ESMTP\r\n")
        await writer.drain()
        while line := await reader.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-mx.sized.test\r\n250-SIZE " + size + b"\r\n250 PIPELINING\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()

    return script


@pytest.mark.parametrize("size", ["¹²³", "١٢٣٤٥", "9" * 100])
def test_diagnose_survives_a_size_in_odd_digits(
    capsys: pytest.CaptureFixture[str], size: str
) -> None:
    hosts = [MailHost("mx.sized.test", "127.0.0.2", script=ehlo_server(size.encode()))]
    with ThreadedWorld(ZONE, hosts) as world:
        host, port = world.dns_address
        with pytest.raises(SystemExit):
            main([
                "diagnose", "sized.test", "--json", "--dns-server", f"{host}:{port}",
                "--port", str(world.port), "--allow-private", "--helo", "probe.client.test",
                "--no-relay-test", "--no-null-sender-test", "--timeout", "3",
            ])  # fmt: skip
    captured = capsys.readouterr()
    assert "unexpected error" not in captured.err
    data = json.loads(captured.out)
    ehlo = data["hosts"][0]["addresses"][0]["ehlo"]
    assert ehlo["pipelining"] is True  # the EHLO reply was read
    assert ehlo["size_mb"] is None  # and its SIZE is "not stated", not a crash


def test_no_pattern_in_the_package_uses_unicode_digits() -> None:
    # \d matches every decimal digit of Unicode; prober's patterns use [0-9].
    import re as _re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "prober"
    offenders = []
    for path in [*root.rglob("*.py"), *root.glob("data/*.toml")]:
        if path.name == "numbers.py":
            continue  # it explains why, in words
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _re.search(r"\\d|\.isdigit\(|\.isdecimal\(|\.isnumeric\(", line):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "option", [["--port", "２５"], ["--timeout", "٣"], ["--max-mx", "³"], ["--rate", "５"],
               ["--concurrency", "১০"], ["--deadline", "9０"]],
)  # fmt: skip
def test_command_line_numbers_need_ascii_digits(
    capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["a@b.test", "c@d.test", *option, "--dns-server", "127.0.0.1:9"])
    assert exit_.value.code == 2
    assert "Invalid value" in capsys.readouterr().err
