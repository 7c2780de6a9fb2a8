"""The single-probe front door: one address through the engine (a list of one).

``probe()`` starts an :class:`~prober.engine.core.Engine`, submits the address and
closes the engine: the same plan, sessions, deadline and judging as list mode and the
service, so every front door gives the same verdict in the same time.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from prober.engine.core import Engine, OnEvent
from prober.resolve.mx import Resolver
from prober.results import ProbeOptions, ProbeResult

Clock = Callable[[], float]


async def probe(
    address: str,
    options: ProbeOptions | None = None,
    *,
    resolver: Resolver | None = None,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
    on_event: OnEvent | None = None,
) -> ProbeResult:
    """Probe ``address``: resolve its MX, ask the servers, and explain the verdict.

    Never raises for bad input, DNS or server behaviour; those are results.
    """
    async with Engine(options, resolver=resolver, clock=clock, rng=rng) as engine:
        return await engine.submit(address, on_event)


def probe_sync(address: str, options: ProbeOptions | None = None) -> ProbeResult:
    """:func:`probe` for synchronous callers (starts and closes its own event loop)."""
    return asyncio.run(probe(address, options))
