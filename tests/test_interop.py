"""The ``probe`` command against real Postfix and Exim servers on loopback.

Each server runs as a private instance (tests/interop/mtas.py) with its own configuration:
alice and carol exist in interop.test, every other local part is unknown, and no client may
relay. The loopback DNS server sends interop.test and other.test to it. The real command
line runs in a subprocess, as a user would run it, and every reply is checked against what
the server really said; the server's own log must show that no message body was sent.

Without the programs (or without root) these tests skip; .ci/setup-mtas installs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from interop.mtas import DOMAIN, Exim, MailServer, Postfix, running

from prober.cli import ExitStatus
from prober.testing.dnsserver import ThreadedDNSServer, Zone

MX_HOST = f"mx.{DOMAIN}"
FOREIGN = "other.test"  # its MX is the same server, which does not host it: relaying
MAILBOXES = (f"alice@{DOMAIN}", f"carol@{DOMAIN}")
KNOWN = f"alice@{DOMAIN}"
UNKNOWN = f"nobody-here@{DOMAIN}"
ELSEWHERE = f"eve@{FOREIGN}"


@dataclass(frozen=True)
class Expected:
    """What each server really answers: code, enhanced code, and the words that matter."""

    unknown: tuple[int, str | None, str]
    relay: tuple[int, str | None, str]
    banner: str


EXPECTED = {
    # Postfix: smtpd_reject_unlisted_recipient and reject_unauth_destination.
    "postfix": Expected(
        unknown=(550, "5.1.1", "User unknown in virtual mailbox table"),
        relay=(554, "5.7.1", "Relay access denied"),
        banner="ESMTP Postfix",
    ),
    # Exim: "require verify = recipient" and the stock relay check; Exim sends no
    # enhanced codes with ACL refusals unless the configuration writes them.
    "exim": Expected(
        unknown=(550, None, "Unrouteable address"),
        relay=(550, None, "relay not permitted"),
        banner="ESMTP Exim",
    ),
}

SERVERS: dict[str, Callable[[list[str], bytes, bytes], MailServer]] = {
    "postfix": lambda boxes, cert, key: Postfix(boxes, cert, key),
    "exim": lambda boxes, cert, key: Exim(boxes, cert, key),
}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("interop-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def dns() -> Iterator[ThreadedDNSServer]:
    zone = Zone(
        {
            f"{DOMAIN}.": [("MX", 10, f"{MX_HOST}.")],
            f"{FOREIGN}.": [("MX", 10, f"{MX_HOST}.")],
            f"{MX_HOST}.": [("A", "127.0.0.1")],
        }
    )
    with ThreadedDNSServer(zone) as server:
        yield server


@pytest.fixture(scope="module", params=sorted(SERVERS))
def mta(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[str, MailServer]]:
    kind: str = request.param
    leaf = ca.issue_cert(MX_HOST)
    cert, key = leaf.cert_chain_pems[0].bytes(), leaf.private_key_pem.bytes()
    for server in running(lambda: SERVERS[kind](list(MAILBOXES), cert, key)):
        yield kind, server


@dataclass(frozen=True)
class Run:
    status: int
    data: dict[str, Any]
    stderr: str


# One probe per (server, address, language), shared by the tests that look at it.
_runs: dict[tuple[str, str, str], Run] = {}


def probe(
    server: MailServer, dns: ThreadedDNSServer, ca_file: Path, address: str, lang: str = "en"
) -> Run:
    key = (str(server.workdir), address, lang)
    if key not in _runs:
        args = [
            sys.executable, "-m", "prober", address,
            "--dns-server", f"127.0.0.1:{dns.port}",
            "--port", str(server.port),
            "--allow-private",
            "--json",
            "--helo", "probe.client.test",
            "--mail-from", "check@client.test",
            "--tls-ca-file", str(ca_file),
            "--timeout", "5",
            "--connect-timeout", "3",
            "--deadline", "20",
            "--lang", lang,
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True, timeout=40, check=False)
        assert done.stdout, f"no output from {' '.join(args)}: {done.stderr}"
        _runs[key] = Run(done.returncode, json.loads(done.stdout), done.stderr)
    return _runs[key]


def rcpt_steps(data: dict[str, Any], address: str) -> list[dict[str, Any]]:
    return [
        step
        for attempt in data["attempts"]
        for step in attempt["steps"]
        if step["stage"] == "rcpt" and step["command"] == f"RCPT TO:<{address}>"
    ]


def test_existing_mailbox_is_deliverable(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path
) -> None:
    kind, server = mta
    run = probe(server, dns, ca_file, KNOWN)
    assert run.status == ExitStatus.DELIVERABLE, run.data
    assert run.data["verdict"] == "deliverable"
    assert run.data["reason"] == "accepted"
    # The extra RCPT for a made-up address was refused, so the domain is no catch-all.
    assert run.data["catch_all"] is False
    (attempt,) = run.data["attempts"]
    assert attempt["ip"] == "127.0.0.1" and attempt["port"] == server.port
    banner = attempt["steps"][1]
    assert banner["stage"] == "banner" and EXPECTED[kind].banner in banner["text"]
    (step,) = rcpt_steps(run.data, KNOWN)
    assert step["code"] == 250
    assert step["explanation"]["category"] == "accepted"


def test_unknown_mailbox_is_undeliverable(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path
) -> None:
    kind, server = mta
    code, enhanced, words = EXPECTED[kind].unknown
    run = probe(server, dns, ca_file, UNKNOWN)
    assert run.status == ExitStatus.UNDELIVERABLE, run.data
    assert run.data["verdict"] == "undeliverable"
    assert run.data["reason"] == "mailbox_unknown"
    (step,) = rcpt_steps(run.data, UNKNOWN)
    assert (step["code"], step["enhanced_code"]) == (code, enhanced)
    assert words in step["text"]
    explanation = step["explanation"]
    assert explanation["category"] == "mailbox_unknown"
    assert explanation["permanent"] is True
    assert explanation["known"] is True
    assert run.data["explanation"]["category"] == "mailbox_unknown"
    assert run.data["explanation"]["code"] == code


def test_foreign_domain_is_relay_denied(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path
) -> None:
    kind, server = mta
    code, enhanced, words = EXPECTED[kind].relay
    run = probe(server, dns, ca_file, ELSEWHERE)
    assert run.status == ExitStatus.UNDELIVERABLE, run.data
    assert run.data["verdict"] == "undeliverable"
    assert run.data["reason"] == "relay_denied"
    (step,) = rcpt_steps(run.data, ELSEWHERE)
    assert (step["code"], step["enhanced_code"]) == (code, enhanced)
    assert words in step["text"]
    assert step["explanation"]["category"] == "relay_denied"
    assert step["explanation"]["permanent"] is True


def test_starttls_is_used_and_verified(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path
) -> None:
    _kind, server = mta
    run = probe(server, dns, ca_file, KNOWN)
    (attempt,) = run.data["attempts"]
    stages = [step["stage"] for step in attempt["steps"]]
    assert stages[:5] == ["connect", "banner", "ehlo", "starttls", "ehlo"]
    assert attempt["tls"]["verified"] is True
    assert attempt["tls_problem"] is None
    # Before TLS the server offers STARTTLS; after it, no longer (RFC 3207 §4.2).
    assert "STARTTLS" not in attempt["extensions"]
    assert "DATA" not in [s["command"] for s in attempt["steps"]]


@pytest.mark.parametrize("lang", ["en", "it"])
def test_every_step_is_explained(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path, lang: str
) -> None:
    _kind, server = mta
    for address in (KNOWN, UNKNOWN, ELSEWHERE):
        run = probe(server, dns, ca_file, address, lang)
        assert run.data["explanation"]["meaning"].strip()
        steps = [step for attempt in run.data["attempts"] for step in attempt["steps"]]
        assert steps, run.data
        for step in steps:
            explanation = step["explanation"]
            where = f"{address}: {step['stage']} {step['command']!r} -> {step['text']!r}"
            assert explanation["meaning"].strip(), where
            assert explanation["lang"] == lang, where
            assert explanation["known"] is True, where
            if step["code"] is not None:
                assert explanation["code"] == step["code"], where
            if explanation["permanent"] is not None:
                # A refusal must also say what to do about it.
                assert explanation["action"].strip(), where
            assert step["command"] is None or not step["command"].upper().startswith(
                ("DATA", "BDAT")
            ), where


def _wait_for(server: MailServer, pattern: str, count: int) -> str:
    """The server's log once ``pattern`` occurs ``count`` times in it (logging lags a bit)."""
    deadline = time.monotonic() + 5.0
    log = server.log()
    while len(re.findall(pattern, log)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
        log = server.log()
    return log


def test_server_log_shows_no_message_body(
    mta: tuple[str, MailServer], dns: ThreadedDNSServer, ca_file: Path
) -> None:
    kind, server = mta
    for address in (KNOWN, UNKNOWN, ELSEWHERE):
        probe(server, dns, ca_file, address)
    sessions = sum(1 for (workdir, _a, _l) in _runs if workdir == str(server.workdir))
    if kind == "postfix":
        # smtpd sums up every session: "disconnect from ... ehlo=2 starttls=1 mail=1
        # rcpt=1/2 rset=1 quit=1 commands=7/8". DATA or BDAT would be counted there.
        log = _wait_for(server, r"disconnect from ", sessions)
        summaries = re.findall(r"disconnect from \S+ (.*)", log)
        # The start-up check (banner, QUIT) is a session too, with no MAIL in it.
        probes = [summary for summary in summaries if re.search(r"\bmail=\d", summary)]
        assert len(probes) >= sessions, log
        for summary in summaries:
            assert "data=" not in summary and "bdat=" not in summary, summary
        assert f"550 5.1.1 <{UNKNOWN}>: Recipient address rejected" in log
        assert f"554 5.7.1 <{ELSEWHERE}>: Relay access denied" in log
        assert "reject: DATA" not in log and "reject: BDAT" not in log
    else:
        log = _wait_for(server, r"closed by QUIT", sessions)
        assert len(re.findall(r"closed by QUIT", log)) >= sessions, log
        # "<=" marks a message received; a refused body would be logged as well.
        assert " <= " not in log, log
        assert "no message bodies" not in log and "DATA" not in log, log
        assert f"rejected RCPT <{UNKNOWN}>: Unrouteable address" in log
        assert f"rejected RCPT <{ELSEWHERE}>: relay not permitted" in log
