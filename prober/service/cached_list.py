"""``probe --file LIST --db URL``: list mode through the service's result cache.

Addresses with a fresh answer in the store are written from it (``"cached": true``);
the others are probed by the engine and their answers stored for the next run and for
the service. Output lines are those of list mode, in completion order.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from typing import Any, BinaryIO, TextIO

from prober.engine.bulk import (
    EXIT_OK,
    EXIT_RISKY,
    EXIT_UNDELIVERABLE,
    EXIT_UNKNOWN,
    ListOptions,
)
from prober.errors import InputError
from prober.output.listio import (
    CSV_FIELDS,
    Entry,
    Source,
    Writer,
    csv_cells,
    json_line,
    result_record,
)
from prober.service.core import cache_key, iso
from prober.service.engine import Engine, EngineLimits
from prober.service.settings import Settings
from prober.service.store import Store
from prober.service.translate import in_every_language


class _Lines(Writer):
    """List mode's writer, given lines already rendered."""

    def put(self, line: str) -> None:
        self._put(line)


def _row(data: dict[str, Any]) -> str:
    """The list mode CSV record of a result object."""
    record = result_record(data)
    return csv_cells(record[name] for name in CSV_FIELDS) + "\n"


def _line(data: dict[str, Any], fmt: str) -> str:
    if fmt == "jsonl":
        return json_line(data)
    if fmt == "csv":
        return _row(data)
    return f"{data['verdict']:<13} {data['address']}  {' '.join(str(data['summary']).split())}\n"


def run_cached(
    addresses: list[str],
    file: str | None,
    options: ListOptions,
    db: str,
    *,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """Run a list with the store at ``db``; the list mode's exit status."""
    if options.resume:
        raise InputError("error_resume_and_db")
    store = Store(db)
    try:
        store.migrate()
        source = Source(addresses, file, column=options.column,
                        stdin=stdin if stdin is not None else sys.stdin.buffer)
        writer = _Lines(options.format, options.output, stdout, append=False)
        try:
            verdicts = asyncio.run(_run(source, options, store, writer))
        finally:
            writer.close()
            source.close()
    finally:
        store.close()
    if not options.quiet:
        from prober.output.messages import count_of, message

        lang = options.probe.lang
        counts = ", ".join(
            count_of(v, n, lang) for v, n in sorted(verdicts.items()) if v != "cached" and n
        )
        total = sum(n for v, n in verdicts.items() if v != "cached")
        stderr.write(message("summary_cached", lang, results=total, cached=verdicts["cached"],
                             counts=counts or message("list_none", lang)) + "\n")
    if verdicts["undeliverable"]:
        return EXIT_UNDELIVERABLE
    if verdicts["unknown"]:
        return EXIT_UNKNOWN
    if verdicts["risky"]:
        return EXIT_RISKY
    return EXIT_OK


async def _run(source: Source, options: ListOptions, store: Store, writer: _Lines) -> Counter[str]:
    settings = Settings(probe=options.probe, db=store.url)
    lang = options.probe.lang
    tally: Counter[str] = Counter()
    todo: list[str] = []

    def emit(data: dict[str, Any]) -> None:
        tally[str(data["verdict"])] += 1
        writer.put(_line(data, options.format))

    for entry in source:
        text = entry.text if isinstance(entry, Entry) else str(entry)
        key = cache_key(text) if entry.problem is None else None
        hit = None if key is None else await asyncio.to_thread(store.cached, key, time.time())
        if hit is None:
            todo.append(text)
            continue
        checked_at, versions = hit
        tally["cached"] += 1
        emit({**versions[lang], "address": text, "cached": True, "checked_at": iso(checked_at)})

    limits = EngineLimits(
        concurrency=options.concurrency, per_host=options.per_host, rate=options.rate,
        rcpt_per_transaction=options.rcpt_per_transaction,
        rcpt_per_session=options.rcpt_per_session, greylist_retry=options.greylist_retry,
    )
    async with Engine(options.probe, limits) as engine:
        async for text, result in engine.stream(todo):
            now = time.time()
            emit({**result.to_dict(), "cached": False, "checked_at": iso(now)})
            key = cache_key(text)
            if key is not None:
                await asyncio.to_thread(
                    store.remember, key, str(result.verdict), str(result.reason),
                    in_every_language(result), now, settings.expires(result, now),
                )
    return tally
