"""Many addresses from a program: :func:`probe_many` and :func:`probe_many_sync`.

The engine (:mod:`prober.engine.core`) with its politeness — connections shared per
MX host, several recipients per transaction, catch-all asked once per domain — seen as
an iterator of results. Results come in the order the addresses were given; at most
``window`` finished results are held back waiting for a slower one before them.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

from prober.results import ProbeOptions, ProbeResult


async def probe_many(
    addresses: Iterable[str] | AsyncIterable[str],
    options: ProbeOptions | None = None,
    *,
    concurrency: int = 20,
    per_host: int = 2,
    rate: float | None = None,
    window: int = 5000,
) -> AsyncIterator[ProbeResult]:
    """Probe every address, politely and concurrently; yield each result in input order.

    ``concurrency`` bounds connections in all, ``per_host`` those to one MX host,
    ``rate`` the RCPT commands per second per domain. Never raises for what an address,
    DNS or a server does: those are results, as with :func:`prober.probe`.
    """
    # Imported here: `import prober` stays light for programs that probe one address.
    from prober.engine.core import Engine, EngineLimits
    from prober.output.listio import Entry, Reorder

    limits = EngineLimits(concurrency=concurrency, per_host=per_host, rate=rate, window=window)
    order = Reorder()
    room = asyncio.Event()
    room.set()

    async def indexed() -> AsyncIterator[Entry]:
        index = 0
        async for address in _each(addresses):
            await room.wait()  # a slow address ahead: hold back, memory stays bounded
            yield Entry(address, index=index)
            index += 1

    async with Engine(options, limits) as engine:
        async for entry, result in engine.stream(indexed()):
            for ready in order.put(entry.index, result):
                yield ready
            if order.waiting >= window:
                room.clear()
            else:
                room.set()


async def _each(addresses: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(addresses, AsyncIterable):
        async for address in addresses:
            yield address
    else:
        for address in addresses:
            yield address


def probe_many_sync(
    addresses: Iterable[str],
    options: ProbeOptions | None = None,
    *,
    concurrency: int = 20,
    per_host: int = 2,
    rate: float | None = None,
) -> Iterator[ProbeResult]:
    """:func:`probe_many` for synchronous callers: a generator, its event loop in a
    thread of its own. Stopping early (``break``) stops the probing."""
    results: queue.Queue[ProbeResult | BaseException | None] = queue.Queue(maxsize=256)
    stop = threading.Event()

    async def run() -> None:
        try:
            async for result in probe_many(
                addresses, options, concurrency=concurrency, per_host=per_host, rate=rate
            ):
                # Waits in a worker thread while the caller is slower than the probing,
                # so the loop goes on answering servers meanwhile.
                await asyncio.to_thread(results.put, result)
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - raised again in the caller's thread
            results.put(exc)
        finally:
            results.put(None)

    thread = threading.Thread(target=asyncio.run, args=(run(),), daemon=True)
    thread.start()
    try:
        while (item := results.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                results.get(timeout=0.1)
            except queue.Empty:
                pass
        thread.join()
