"""Real Postfix with a self-signed STARTTLS certificate: one TCP connection per session.

Most MX certificates do not validate for the MX name; a client that verified inside the
handshake would drop each session and connect again unverified. prober handshakes once
and verifies the chain afterwards, so Postfix's own log must show exactly one connection
for each session of work, through both front doors. Skips without Postfix or root
(.ci/setup-mtas installs it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from interop.mtas import DOMAIN, MailServer, Postfix, one_mx, running, self_signed

from prober.testing.dnsserver import ThreadedDNSServer, Zone

MX_HOST = f"mx.{DOMAIN}"
MAILBOXES = (f"alice@{DOMAIN}", f"carol@{DOMAIN}")


@pytest.fixture(scope="module")
def postfix() -> Iterator[MailServer]:
    cert, key = self_signed(MX_HOST)
    yield from running(lambda: Postfix(list(MAILBOXES), cert, key))


@pytest.fixture(scope="module")
def dns() -> Iterator[ThreadedDNSServer]:
    with ThreadedDNSServer(Zone(one_mx(MX_HOST))) as server:
        yield server


def connections(server: MailServer) -> int:
    return len(re.findall(r"\]: connect from ", server.log()))


def settle(server: MailServer, before: int, count: int) -> str:
    """The log once ``count`` sessions after ``before`` connections have ended."""
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        log = server.log()
        if len(re.findall(r"disconnect from ", log)) >= before + count:
            break
        time.sleep(0.1)
    return server.log()


def run(server: MailServer, dns: ThreadedDNSServer, *addresses: str) -> list[dict[str, object]]:
    args = [
        sys.executable, "-m", "prober", *addresses,
        "--dns-server", f"127.0.0.1:{dns.port}",
        "--port", str(server.port),
        "--allow-private",
        *(["--json"] if len(addresses) == 1 else ["--format", "jsonl"]),
        "--per-host", "1",
        "--helo", "probe.client.test",
        "--mail-from", "check@client.test",
        "--timeout", "5",
        "--deadline", "20",
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.stdout, done.stderr
    if len(addresses) == 1:
        return [json.loads(done.stdout)]  # the single probe's --json object
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "addresses",
    [
        (f"alice@{DOMAIN}",),  # a single probe
        (*MAILBOXES, *(f"nobody{i}@{DOMAIN}" for i in range(6))),  # a list of eight
    ],
    ids=["single", "list"],
)
def test_self_signed_certificate_costs_no_second_connection(
    postfix: MailServer, dns: ThreadedDNSServer, addresses: tuple[str, ...]
) -> None:
    before = connections(postfix)
    results = run(postfix, dns, *addresses)
    log = settle(postfix, before, 1)
    assert len(results) == len(addresses)
    for result in results:
        expected = "deliverable" if result["address"] in MAILBOXES else "undeliverable"
        assert result["verdict"] == expected, result
        (attempt,) = result["attempts"]  # type: ignore[misc]
        assert attempt["tls"]["verified"] is False
        assert "self-signed" in attempt["tls_problem"]
    assert connections(postfix) - before == 1, log
    summary = re.findall(r"disconnect from \S+ (.*)", log)[-1]
    assert "starttls=1" in summary and "ehlo=2" in summary and "data" not in summary
