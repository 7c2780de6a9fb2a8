"""Batches handed to the workers that hold a host's slots (I/O: Redis).

A batch that finds every slot of its host taken does not wait for one: it leaves its
rows in the host's **pending** list and goes back to the broker for a while, and the
workers that hold the host's slots take the rows into their open sessions before they
give a slot back. So a busy host's slots stay busy while it has work anywhere in the
fleet, and the batches waiting for it hold no worker thread.

The batch's message stays the safety net (delivery at least once): it is acknowledged
only once its rows are done. Until then it comes back every few seconds and looks:

- **done** — a holder finished the rows: the message is acknowledged, nothing else;
- **claimed** by a holder whose lease is still alive — it is being done: back again later;
- otherwise (still pending, or claimed by a holder whose lease lapsed, say a worker
  killed with ``kill -9``) it takes a slot if one is free and does the rows itself,
  else it leaves them pending again.

A holder's claim is only as good as its lease on one of the host's slots
(:mod:`prober.workers.leases`): no renewal of its own, and a dead holder's claims lapse
with its lease. Results are keyed by job and row, so rows done twice — a holder that
died after writing them, a batch that came back just as a holder finished — are written
once. Short scripts, each atomic in Redis:

- push: the rows' entry joins the host's list, once (a hash keyed by entry holds them);
- pop: the oldest entry still pending, out of the list;
- claim: an entry for a holder, unless it is done or claimed by a live lease (the
  holder's own included: rows are never run twice at once by one worker);
- look: done, claimed (by a live lease), pending, or none of these;
- ready: which of a worker's hosts have rows pending (one look for all of them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# KEYS: list, hash; ARGV: entry, payload, ttl (ms). 1 when it was not pending yet.
_PUSH = """
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  return 1
end
return 0
"""

# KEYS: list, hash, the host's pause. {entry, payload} of the oldest entry still
# pending, or nil (also while the host is paused). An entry in the list but not in the
# hash was claimed by its own batch meanwhile: skipped.
_POP = """
if redis.call('EXISTS', KEYS[3]) == 1 then return nil end
while true do
  local entry = redis.call('LPOP', KEYS[1])
  if not entry then return nil end
  local payload = redis.call('HGET', KEYS[2], entry)
  if payload then
    redis.call('HDEL', KEYS[2], entry)
    return {entry, payload}
  end
end
"""

# KEYS: (hash, pause) for each host. The positions (from 1) of the hosts with rows
# pending and no pause.
_READY = """
local found = {}
for i = 1, #KEYS, 2 do
  if redis.call('HLEN', KEYS[i]) > 0 and redis.call('EXISTS', KEYS[i + 1]) == 0 then
    found[#found + 1] = (i + 1) / 2
  end
end
return found
"""

# A claim's holder is a lease on one of the host's slots: alive while it is in the
# host's lease set with a score (its lapse, on Redis's clock) still ahead.
_ALIVE = """
local function alive(lease_key, holder)
  if not holder then return false end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local lapses = redis.call('ZSCORE', lease_key, holder)
  return lapses ~= false and lapses ~= nil and tonumber(lapses) > now
end
"""

# KEYS: hash, claim, done, leases; ARGV: entry, holder, ttl (ms).
_CLAIM = _ALIVE + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 'done' end
local holder = redis.call('GET', KEYS[2])
if alive(KEYS[4], holder) then return 'claimed' end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
return 'ok'
"""

# KEYS: hash, claim, done, leases; ARGV: entry.
_LOOK = _ALIVE + """
if redis.call('EXISTS', KEYS[3]) == 1 then return 'done' end
if alive(KEYS[4], redis.call('GET', KEYS[2])) then return 'claimed' end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'pending' end
return 'none'
"""

_KEPT_MS = 3_600_000  # an entry's keys outlive any batch that could still come back


@dataclass(frozen=True, slots=True)
class Entry:
    """Rows of one job for one host, handed over by the batch ``entry``."""

    entry: str
    job_id: str
    rows: tuple[int, ...]

    def payload(self) -> str:
        return json.dumps({"job": self.job_id, "rows": list(self.rows)})

    @classmethod
    def read(cls, entry: str, payload: str) -> Entry:
        data = json.loads(payload)
        return cls(entry, str(data["job"]), tuple(int(n) for n in data["rows"]))


class Pending:
    """The fleet's pending rows per host, in Redis."""

    def __init__(self, client: Any, namespace: str, lease_key: Any, pause_key: Any) -> None:
        self.client = client
        self.namespace = namespace
        self._lease_key = lease_key  # host → the key of its lease set
        self._pause_key = pause_key  # host → the key of its fleet-wide pause
        self._push = client.register_script(_PUSH)
        self._pop = client.register_script(_POP)
        self._claim = client.register_script(_CLAIM)
        self._look = client.register_script(_LOOK)
        self._ready = client.register_script(_READY)

    def _keys(self, host: str) -> tuple[str, str]:
        return f"{self.namespace}:pending:{host}", f"{self.namespace}:pending-rows:{host}"

    def _entry_keys(self, host: str, entry: str) -> list[str]:
        return [
            self._keys(host)[1],
            f"{self.namespace}:claim:{entry}",
            f"{self.namespace}:done:{entry}",
            self._lease_key(host),
        ]

    def push(self, host: str, entry: Entry) -> bool:
        """Leave ``entry``'s rows for the host's slot holders; False if already there."""
        return bool(int(self._push(keys=list(self._keys(host)),
                                   args=[entry.entry, entry.payload(), _KEPT_MS])))

    def pop(self, host: str) -> Entry | None:
        """The oldest entry pending for ``host`` (taken out of the list), or None (also
        while the host is paused)."""
        found = self._pop(keys=[*self._keys(host), self._pause_key(host)])
        if not found:
            return None
        entry, payload = (v.decode() if isinstance(v, bytes) else str(v) for v in found)
        return Entry.read(entry, payload)

    def claim(self, host: str, entry: str, holder: str) -> str:
        """'ok' when ``holder`` (a lease on one of the host's slots) now does the
        entry's rows; 'done' or 'claimed' (by another live holder) when nobody should."""
        answer = self._claim(keys=self._entry_keys(host, entry), args=[entry, holder, _KEPT_MS])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def look(self, host: str, entry: str) -> str:
        """'done', 'claimed', 'pending' or 'none'."""
        answer = self._look(keys=self._entry_keys(host, entry), args=[entry])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    def finish(self, entry: str) -> None:
        """The entry's rows are written: its batch need not come back for them."""
        self.client.set(f"{self.namespace}:done:{entry}", "1", px=_KEPT_MS)

    def unclaim(self, entry: str) -> None:
        """The holder gives the entry up (it could not write the rows): its batch, at
        its next look, finds it neither done nor claimed and does the rows itself."""
        self.client.delete(f"{self.namespace}:claim:{entry}")

    def ready(self, hosts: list[str]) -> list[str]:
        """Those of ``hosts`` with rows pending and no pause (one round trip)."""
        if not hosts:
            return []
        keys = [key for host in hosts for key in (self._keys(host)[1], self._pause_key(host))]
        return [hosts[int(i) - 1] for i in self._ready(keys=keys)]
