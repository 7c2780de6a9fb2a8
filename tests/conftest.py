"""Shared test fixtures: loopback worlds and probe options pointed at them."""

from __future__ import annotations

import io
import os
import random
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from prober.engine.bulk import ListOptions, run_list_async
from prober.engine.session import probe
from prober.resolve.mx import DNSConfig
from prober.results import ProbeOptions, ProbeResult
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHost, World

WorldFactory = Callable[[dict[str, list[RecordSpec]], list[MailHost]], World]


@pytest.fixture(autouse=True)
def _english_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line follows the locale; the tests read English unless they ask for
    Italian, whatever the locale of the machine running them."""
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.delenv("PROBER_LANG", raising=False)


def options_for(world: World, **changes: object) -> ProbeOptions:
    """Probe options aimed at ``world``: its DNS, its port, private addresses allowed."""
    base = ProbeOptions(
        helo="probe.client.test",
        mail_from="check@client.test",
        port=world.port,
        allow_private=True,
        connect_timeout=2.0,
        timeout=3.0,
        deadline=15.0,
        dns=DNSConfig(servers=(world.dns_address,), timeout=2.0),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@asynccontextmanager
async def world_of(
    records: dict[str, list[RecordSpec]], hosts: list[MailHost]
) -> AsyncIterator[World]:
    async with World(records, hosts) as world:
        yield world
        # Whatever a test did, the prober must never have sent DATA or BDAT.
        assert world.data_received() == 0


async def probe_in(world: World, address: str, **changes: object) -> ProbeResult:
    return await probe(address, options_for(world, **changes), rng=random.Random(7))


# In CI (.ci/run sets PROBER_REQUIRE_SERVICES=1) a test skipped because a real service is
# missing — PostgreSQL, Redis, Chromium, Postfix, Exim — is a failure: CI installs them all.
_SERVICE_SKIP = re.compile(
    r"PROBER_TEST_POSTGRES|PROBER_TEST_REDIS|chromium|postfix|exim|redis|postgres", re.I
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and os.environ.get("PROBER_REQUIRE_SERVICES") == "1"):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
    if _SERVICE_SKIP.search(reason):
        report.outcome = "failed"
        report.longrepr = f"a required service is missing in CI: {reason}"


# The front doors every address can come through; suites about what servers and DNS do
# run through each, and must give the same verdict within the same deadline.
DOORS = ("single", "list")


async def probe_through(
    door: str, address: str, options: ProbeOptions, rng: random.Random
) -> ProbeResult:
    """Probe ``address`` through ``door``: ``probe()``, or list mode with a list of one."""
    if door == "single":
        return await probe(address, options, rng=rng)
    results: list[ProbeResult] = []
    out, err = io.StringIO(), io.StringIO()
    await run_list_async(
        [address],
        None,
        ListOptions(probe=options, quiet=True),
        stdout=out,
        stderr=err,
        rng=rng,
        on_result=lambda _entry, result: results.append(result),
    )
    assert len(results) == 1, err.getvalue()
    return results[0]


@pytest.fixture(params=DOORS)
def door(request: pytest.FixtureRequest) -> str:
    return str(request.param)
