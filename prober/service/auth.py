"""Who is asking, and whether they may: API keys, per-key rate, daily quota."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from prober.service.problems import Problem
from prober.service.store import ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    key: ApiKey | None  # None: the server runs with --no-auth

    @property
    def key_id(self) -> int | None:
        return None if self.key is None else self.key.id


def bearer(header: str | None) -> str:
    if not header:
        raise Problem(
            "unauthorized",
            "Send an API key as 'Authorization: Bearer <key>'; create one with "
            "'probe keys create NAME' on the server.",
            headers={"WWW-Authenticate": 'Bearer realm="prober"'},
        )
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            "unauthorized",
            "The Authorization header must be 'Bearer <key>'.",
            headers={"WWW-Authenticate": 'Bearer realm="prober"'},
        )
    return token.strip()


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests, refilled evenly (in memory)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # key → (tokens, when)

    def take(self, key_id: int, per_minute: int) -> float | None:
        """None if the request may go; else the seconds until it may."""
        now = self._clock()
        tokens, when = self._buckets.get(key_id, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - when) * per_minute / 60.0)
        if tokens >= 1.0:
            self._buckets[key_id] = (tokens - 1.0, now)
            return None
        self._buckets[key_id] = (tokens, now)
        return (1.0 - tokens) * 60.0 / per_minute


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}
