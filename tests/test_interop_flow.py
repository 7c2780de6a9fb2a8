"""Postfix's flow control is no punishment of errors (real Postfix on loopback).

Postfix's cleanup service takes a token for each transaction with an accepted recipient
and, when none is left, waits ``in_flow_delay`` (1 s by default) before answering; the
queue manager gives tokens back only for mail it handles, which a prober never sends.
Here ``default_process_limit = 1`` leaves one token, so every transaction after the first
pays that second at its first accepted RCPT. The engine must not take that pause for the
error sleep of ``smtpd_soft_error_limit`` and shrink the host's error budget: a later list
that fits the budget of ten refusals must still take one session.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest
from interop.mtas import DOMAIN, MailServer, Postfix, one_mx, running, self_signed

from prober.engine.core import Engine, EngineLimits
from prober.resolve.mx import DNSConfig
from prober.results import ProbeOptions
from prober.testing.dnsserver import ThreadedDNSServer, Zone

MX_HOST = f"mx.{DOMAIN}"
KNOWN = [f"user{n}@{DOMAIN}" for n in range(12)]


@pytest.fixture(scope="module")
def postfix() -> Iterator[MailServer]:
    cert, key = self_signed(MX_HOST)
    yield from running(
        lambda: Postfix(KNOWN, cert, key, settings=(("default_process_limit", "1"),))
    )


@pytest.fixture(scope="module")
def dns() -> Iterator[ThreadedDNSServer]:
    with ThreadedDNSServer(Zone(one_mx(MX_HOST))) as server:
        yield server


def unknown(start: int, count: int) -> list[str]:
    return [f"nobody{n}@{DOMAIN}" for n in range(start, start + count)]


async def trickle(*parts: list[str], gap: float = 0.1) -> AsyncIterator[str]:
    """The addresses of each part at once, a short wait between parts (a list being read)."""
    for i, part in enumerate(parts):
        if i:
            await asyncio.sleep(gap)
        for address in part:
            yield address


def test_flow_control_pause_leaves_the_error_budget_alone(
    postfix: MailServer, dns: ThreadedDNSServer
) -> None:
    options = ProbeOptions(
        helo="probe.client.test",
        mail_from="check@client.test",
        port=postfix.port,
        allow_private=True,
        starttls=False,
        timeout=10.0,
        deadline=60.0,
        dns=DNSConfig(servers=((dns.host, dns.port),), timeout=2.0),
    )
    limits = EngineLimits(concurrency=1, per_host=1)

    async def run() -> tuple[int, dict[str, str], float]:
        async with Engine(options, limits) as engine:
            # The one flow token goes to this first transaction.
            first = await engine.submit(KNOWN[0])
            assert str(first.verdict) == "deliverable"
            # Four refusals first (no queue file yet), then, in the same transaction, a
            # batch with two more refusals and the first accepted RCPTs: Postfix holds
            # that batch a second.
            later = unknown(4, 2) + KNOWN[1:7]
            verdicts = {
                r.address: str(r.verdict)
                async for _, r in engine.stream(trickle(unknown(0, 4), later))
            }
            before = engine.connections
            loop = asyncio.get_running_loop()
            began = loop.time()
            # Eight refusals and three acceptances fit a budget of ten (a session keeps
            # one refusal in hand): one session.
            verdicts |= {
                r.address: str(r.verdict)
                async for _, r in engine.stream(unknown(10, 8) + KNOWN[7:10])
            }
            return engine.connections - before, verdicts, loop.time() - began

    sessions, verdicts, took = asyncio.run(run())
    assert all(v == "deliverable" for a, v in verdicts.items() if a in KNOWN), verdicts
    assert all(v == "undeliverable" for a, v in verdicts.items() if a not in KNOWN), verdicts
    assert sessions == 1, f"{sessions} sessions for eight refusals: the budget was lowered"
    log = postfix.log()
    # The pause was real: Postfix had no token for the later transactions.
    assert re.search(r"disconnect from .* rcpt=\d+/\d+", log)
    assert took >= 1.0, "no transaction waited for a flow token: the test proves nothing"
    assert "data=" not in log
