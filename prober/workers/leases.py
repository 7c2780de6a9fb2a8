"""Per-host connection slots shared by the fleet: leases in Redis that heal (I/O).

A host has ``limit`` slots. A worker takes one before it opens a connection to the host
and gives it back one round trip after the connection closed. Each slot taken is a
**lease**: a member of the host's sorted set in Redis whose score is the moment it
lapses, on the Redis server's clock (no worker's clock matters). While the worker lives,
a heartbeat thread renews its leases every ``every`` seconds; a worker killed with
``kill -9`` renews nothing, so its slots lapse ``ttl`` seconds after its last renewal
and the next worker that asks finds them free.

Dramatiq's :class:`~dramatiq.rate_limits.ConcurrentRateLimiter` keeps one counter per
key with an expiry refreshed on every use: a dead holder's unit stays counted for as
long as anyone keeps using the host. Leases need a holder per slot, hence these three
short scripts (each runs atomically in Redis).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("prober.workers")

# KEYS[1]: the host's set; ARGV: member, limit, ttl (ms). 1 if the slot is now ours.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""

# Renew a lease still held: 1; a lapsed one taken again because a slot was free: 2;
# lapsed and every slot taken by others: 0.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  if held then return 1 end
  return 2
end
return 0
"""

# The slots of a host taken now (lapsed leases not counted).
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""


class Leases:
    """One worker's leases on hosts' slots, renewed by a heartbeat thread."""

    def __init__(
        self, client: Any, namespace: str, owner: str, *, limit: int, ttl: float, every: float
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.owner = owner
        self.limit = max(1, limit)
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.every = max(0.1, every)
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._count = client.register_script(_COUNT)
        self._held: dict[str, str] = {}  # member → host
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = 0  # leases that lapsed while held (the worker stalled past the ttl)

    def key(self, host: str) -> str:
        return f"{self.namespace}:lease:{host}"

    def take(self, host: str) -> str | None:
        """A lease on one of ``host``'s slots, or None when all are taken."""
        member = f"{self.owner}:{secrets.token_hex(6)}"
        if int(self._take(keys=[self.key(host)], args=[member, self.limit, self.ttl_ms])):
            with self._lock:
                self._held[member] = host
            return member
        return None

    def give_back(self, member: str) -> None:
        with self._lock:
            host = self._held.pop(member, None)
        if host is not None:
            self.client.zrem(self.key(host), member)

    def give_back_all(self) -> None:
        with self._lock:
            members = list(self._held)
        for member in members:
            self.give_back(member)

    def taken(self, host: str) -> int:
        """Slots of ``host`` taken now, by the whole fleet."""
        return int(self._count(keys=[self.key(host)]))

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def renew(self) -> None:
        """Renew every lease this worker holds (the heartbeat does this)."""
        with self._lock:
            held = list(self._held.items())
        for member, host in held:
            answer = int(self._renew(keys=[self.key(host)], args=[member, self.limit, self.ttl_ms]))
            if answer != 1:
                self.lost += 1
                log.warning(
                    "the lease on a slot of %s had lapsed (this worker stalled for more than "
                    "%.0f s); %s", host, self.ttl_ms / 1000,
                    "it was free and is taken again" if answer == 2
                    else "another worker has taken it",
                )

    def start(self) -> None:
        if self._thread is not None:
            return

        def beat() -> None:
            while not self._stop.wait(self.every):
                try:
                    self.renew()
                except Exception as exc:  # noqa: BLE001 - a broker hiccup; the next beat retries
                    log.warning("leases not renewed: %s", exc)

        self._thread = threading.Thread(target=beat, name="prober-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    @contextmanager
    def running(self) -> Iterator[Leases]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
