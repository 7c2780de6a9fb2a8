"""The service's view of the engine: the one engine every front door shares.

The service speaks to the engine through exactly this surface::

    async with Engine(options, limits) as engine:
        result = await engine.submit(address, on_event=callback, fresh=True)
        async for item, result in engine.stream(items):
            ...

plus :func:`figures`, what ``/metrics`` shows of the engine. One engine serves every
request at once, so per-MX-host politeness, open sessions, the DNS cache and catch-all
answers hold across concurrent requests. The store is the service's cache, so the
service asks with ``fresh=True``: the engine's own memory of recent answers is for
duplicates inside one list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prober.engine.core import Engine, EngineLimits
from prober.results import OnEvent, ProbeEvent

__all__ = ["Engine", "EngineLimits", "Figures", "OnEvent", "ProbeEvent", "figures"]


@dataclass(frozen=True, slots=True)
class Figures:
    """What ``/metrics`` reports about the engine."""

    queued: int  # addresses waiting in a host's queue for a session
    active: int  # distinct addresses under way
    backoffs: Mapping[str, int]  # MX host → pauses it asked for (421, "slow down")


def figures(engine: Engine) -> Figures:
    return Figures(engine.queued, engine.active, dict(engine.backoffs_by_host))
