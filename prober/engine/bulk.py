"""List mode: probe many addresses fast and politely, streaming results as they finish.

This module is a thin driver: it reads the entries of a
:class:`~prober.output.listio.Source`, streams them through one
:class:`~prober.engine.core.Engine` (the same engine a single probe uses, so the same
plan, sessions, per-address deadline and verdicts), and hands each ``(entry, result)``
to the writer, the tally, the progress line and an optional callback.

The engine groups addresses by the MX address that answers for them (many domains share
a provider's MX); a session takes addresses for its host while it is open, in pipelined
transactions, within the server's error budget. Politeness: a global limit on
connections, a cap per MX host, an optional RCPT rate per domain, and a pause for a host
that answers 421 or "slow down". Catch-all detection asks one made-up address per domain
per run, with the domain's first addresses when an acceptance is likely (else once one
has been accepted). At most ``window`` addresses
are in flight, so a list of millions runs in bounded memory; the same address twice is
probed once and reported for each line.

Exit status of a list run (aligned with the single probe's):

- 0: every address is deliverable (also: the list held no address at all);
- 1: at least one address is undeliverable (a line that is not an address counts);
- 4: none undeliverable, at least one unknown;
- 3: none undeliverable or unknown, at least one risky;
- 2: usage, input or output error (unreadable file, missing CSV column,
  ``--resume`` without ``--output``, an output file that cannot be written);
- 130: interrupted; everything already written stays valid for ``--resume``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import signal
import sys
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, TextIO

from prober.engine.core import Engine, EngineLimits
from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError, OutputError
from prober.knowledge.offline import check_entry_offline
from prober.output.listio import (
    Done,
    Entry,
    Reorder,
    Source,
    Writer,
    check_list_file,
    check_output_path,
    count_records,
    load_done,
    parse_fields,
)
from prober.output.messages import message
from prober.output.progress import Progress
from prober.output.render import list_summary
from prober.output.terminal import safe_block
from prober.resolve.mx import Resolver
from prober.results import ProbeOptions, ProbeResult

Clock = Callable[[], float]

EXIT_OK = 0
EXIT_UNDELIVERABLE = 1
EXIT_ERROR = 2
EXIT_RISKY = 3
EXIT_UNKNOWN = 4
EXIT_INTERRUPTED = 130
EXIT_CLOSED = 141  # the reader of the output went away (``| head``): stop, quietly

_DOMAINS = 20000  # domains whose refusal counts the summary keeps


@dataclass(frozen=True, slots=True)
class ListOptions:
    probe: ProbeOptions
    concurrency: int = 20  # global connection limit
    per_host: int = 2  # connections per MX host at once
    rate: float | None = None  # RCPT commands per second per domain (None: no limit)
    rcpt_per_transaction: int = 100
    greylist_retry: float | None = None  # seconds; re-probe greylisted addresses once after
    format: str = "jsonl"  # jsonl | csv | text | json
    output: str | None = None  # path; None = stdout
    resume: bool = False
    column: str | None = None  # CSV input column holding addresses
    progress: bool = False  # progress bar on stderr (the CLI passes True only for a TTY)
    rcpt_per_session: int = 100  # recipients one connection asks about before QUIT
    backoff: float = 30.0  # first pause of a host after 421 / rate limiting; doubles
    window: int = 5000  # addresses in flight at once: the bound on memory
    quiet: bool = False  # no summary on stderr
    csv_input: bool = False  # read the file as CSV even without a header naming the column
    fields: str | None = None  # "a,b,c": only these fields of each result (jsonl, csv)
    full_text: bool = False  # text format: each result's whole transcript, not one line
    colour: bool = True  # colour in the progress line (it is drawn on a terminal only)
    warnings: tuple[str, ...] = ()  # about the options (a HELO that will be refused): each result
    verbose: bool = False  # full text: explain every step
    text_colour: bool = False  # full text: colour (the CLI passes True for a terminal)
    offline: bool = False  # syntax and knowledge only (prober.knowledge): no DNS, no SMTP
    error_budget: int = 10  # refused RCPTs a session may collect (Postfix's soft limit)

    def limits(self) -> EngineLimits:
        """The engine's politeness limits for this run."""
        return EngineLimits(
            concurrency=self.concurrency,
            per_host=self.per_host,
            rate=self.rate,
            rcpt_per_transaction=self.rcpt_per_transaction,
            rcpt_per_session=self.rcpt_per_session,
            greylist_retry=self.greylist_retry,
            backoff=self.backoff,
            window=self.window,
            error_budget=self.error_budget,
        )


# -- the tally -----------------------------------------------------------------------


@dataclass
class Tally:
    """What a run found, for the summary and the exit status."""

    verdicts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    refusing: Counter[str] = field(default_factory=Counter)  # domain → blocked/limited count
    probed: int = 0  # distinct addresses actually probed (or judged without a connection)
    blank: int = 0
    missing: int = 0  # records without an address, written back with the reason
    resumed: int = 0  # skipped: already in the output
    earlier: Counter[str] = field(default_factory=Counter)  # their verdicts, for the status
    connections: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def results(self) -> int:
        return sum(self.verdicts.values())

    def add(self, result: ProbeResult) -> None:
        self.count(str(result.verdict), str(result.reason), result.normalized)

    def count(self, verdict: str, reason: str, normalized: str | None) -> None:
        self.verdicts[verdict] += 1
        self.reasons[reason] += 1
        if reason in (Reason.BLOCKED, Reason.RATE_LIMITED) and normalized:
            self.refusing[normalized.rpartition("@")[2]] += 1
            if len(self.refusing) > _DOMAINS:
                for domain, _count in self.refusing.most_common()[_DOMAINS // 2 :]:
                    del self.refusing[domain]

    def top_refusing(self) -> list[tuple[str, int]]:
        return self.refusing.most_common(5)

    def exit_status(self) -> int:
        """For the whole list: a resumed run counts the results it found written."""
        every = self.verdicts + self.earlier
        if every[str(Verdict.UNDELIVERABLE)]:
            return EXIT_UNDELIVERABLE
        if every[str(Verdict.UNKNOWN)]:
            return EXIT_UNKNOWN
        if every[str(Verdict.RISKY)]:
            return EXIT_RISKY
        return EXIT_OK


# -- running a list ------------------------------------------------------------------


async def _entries(source: Source, done: Done | None, tally: Tally) -> AsyncIterator[Entry]:
    """The source's entries, read in a worker thread so a slow pipe never stalls probing."""
    iterator = iter(source)

    def chunk() -> list[Entry]:
        return list(_islice(iterator, 256))

    while True:
        batch = await asyncio.to_thread(chunk)
        if not batch:
            tally.blank = source.blank
            return
        for entry in batch:
            verdict = done.take(entry) if done is not None else None
            if verdict is not None:
                tally.resumed += 1
                if verdict:
                    tally.earlier[verdict] += 1
                continue
            yield entry


def _islice(iterator: Iterator[Entry], count: int) -> Iterator[Entry]:
    for _ in range(count):
        try:
            yield next(iterator)
        except StopIteration:
            return


# Results held back so that output keeps the input's order; input stops being read past
# this, so one slow address delays the output but never grows memory without end.
REORDER_BOUND = 5000


Counted = tuple[str, str, str | None]  # a written result's verdict, reason, address


class _InOrder:
    """The engine's results (completion order) back into input order, then written.

    The engine hands each result back with the entry it answers; a result is rendered
    as soon as it comes, so what waits for its turn is text (a few KB, far less with
    ``--compact``), not the result with its whole transcript.
    """

    def __init__(
        self,
        writer: Writer,
        start: int,
        on_written: Callable[[Counted | None], None],
        warnings: tuple[str, ...] = (),
    ) -> None:
        self._warnings = warnings
        self._writer = writer
        self._order = Reorder(start)
        self._on_written = on_written
        self.room = asyncio.Event()
        self.room.set()

    def result(self, entry: Entry, result: ProbeResult) -> None:
        if self._warnings:
            result = replace(result, warnings=result.warnings + self._warnings)
        counted = (str(result.verdict), str(result.reason), result.normalized)
        self._put(entry.index, self._writer.render(entry, result), counted)

    def without_address(self, entry: Entry) -> None:
        self._put(entry.index, self._writer.render(entry, None), None)

    def _put(self, index: int, record: str, counted: Counted | None) -> None:
        # A record that must wait for a slower one before it is held compressed: a whole
        # transcript is several KB of JSON, and thousands may wait behind one host.
        held: str | bytes = record
        if index != self._order.next:
            held = zlib.compress(record.encode("utf-8", "surrogateescape"), 1)
        for ready, tally in self._order.put(index, (held, counted)):
            if isinstance(ready, bytes):
                ready = zlib.decompress(ready).decode("utf-8", "surrogateescape")
            self._writer.put(ready)
            self._on_written(tally)
        if self._order.waiting >= REORDER_BOUND:
            self.room.clear()
        else:
            self.room.set()


async def run_list_async(
    addresses: list[str],
    file: str | None,
    options: ListOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
    resolver: Resolver | None = None,
    rng: random.Random | None = None,
    on_result: Callable[[Entry, ProbeResult], None] | None = None,
) -> int:
    """:func:`run_list` on the running event loop (for tests and embedding).

    Every result goes to the writer, the tally and ``on_result(entry, result)``."""
    lang = options.probe.lang
    try:
        if options.resume and options.output is None:
            raise InputError("error_resume_needs_output")
        # Files compared, not names; before anything is opened for writing.
        check_output_path(options.output, (file, options.probe.tls_ca_file), stdin=stdin)
        check_list_file(file)
        if options.resume and options.format in ("text", "json"):
            load_done("", options.format)  # refuses, with the reason
        source = Source(
            addresses,
            file,
            column=options.column,
            stdin=stdin,
            csv_input=options.csv_input,
            csv_likely=options.format == "csv",
        )
    except InputError as exc:
        print(f"probe: {safe_block(exc.text(lang))}", file=stderr)
        return EXIT_ERROR
    try:
        if source.kind in ("csv", "jsonl") and addresses:
            raise InputError("error_list_and_arguments", file=file, kind=source.kind.upper())
        table = source.table if options.format == "csv" else None
        fields = parse_fields(options.fields, options.format)
        probe_writer = Writer(
            options.format, None, io.StringIO(), table=table, fields=fields, lang=lang
        )
        done = None
        if options.resume and options.output is not None:
            done = load_done(options.output, options.format, probe_writer)
        writer = Writer(
            options.format,
            options.output,
            stdout,
            append=options.resume,
            table=table,
            fields=fields,
            full_text=options.full_text,
            lang=lang,
            header_names=source.table.names if source.table is not None else (),
            verbose=options.verbose,
            verdict_only=options.quiet,
            colour=options.text_colour,
        )
    except (InputError, OutputError) as exc:
        source.close()
        print(f"probe: {safe_block(exc.text(lang))}", file=stderr)
        return EXIT_ERROR
    tally = Tally()
    total = len([a for a in addresses if a.strip()]) if file is None else None
    if file is not None and file != "-":
        lines = count_records(file)
        if lines is not None:
            total = max(0, lines - (1 if source.kind == "csv" else 0)) + len(addresses)
    if total is not None and done is not None:
        total = max(0, total - len(done))
    progress = Progress(stderr, options.progress, total=total, lang=lang, colour=options.colour)

    def written(counted: Counted | None) -> None:
        if counted is None:
            tally.missing += 1
        else:
            tally.count(*counted)
        progress.add(None if counted is None else counted[0])

    ordered = _InOrder(writer, len(done) if done is not None else 0, written, options.warnings)
    engine = Engine(options.probe, options.limits(), resolver=resolver, rng=rng)
    interrupted = False
    read = 0
    offline = 0
    try:
        async def feed() -> AsyncIterator[Entry]:
            nonlocal read, offline
            async for entry in _entries(source, done, tally):
                read += 1
                progress.read(read)
                await ordered.room.wait()
                if entry.missing:
                    ordered.without_address(entry)
                elif options.offline:
                    offline += 1
                    ordered.result(entry, check_entry_offline(entry, options.probe))
                else:
                    yield entry
            progress.total_known(read)

        async for entry, result in engine.stream(feed()):
            ordered.result(entry, result)
            if on_result is not None:
                on_result(entry, result)
    except asyncio.CancelledError:
        # Ctrl-C (see run_list): stop taking addresses; the sessions in flight are
        # cancelled below and say QUIT; every result already written is a whole line.
        interrupted = True
    except InputError as exc:
        progress.stop()
        print(f"probe: {safe_block(exc.text(lang))}", file=stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        progress.stop()
        return EXIT_CLOSED
    except OSError as exc:
        progress.stop()
        print(f"probe: {OutputError.of(exc).text(lang)}", file=stderr)
        return EXIT_ERROR
    finally:
        progress.stop()
        await engine.close()
        with contextlib.suppress(BrokenPipeError):  # the reader has gone: nothing to add
            writer.close()
        source.close()
    tally.probed = engine.distinct + offline
    tally.connections = engine.connections
    if not options.quiet:
        print(safe_block(list_summary(tally, lang, time.monotonic() - tally.started)), file=stderr)
    if interrupted:
        key = "list_interrupted_resume" if options.output else "list_interrupted"
        print(message(key, lang), file=stderr)
        return EXIT_INTERRUPTED
    return tally.exit_status()


def run_list(
    addresses: list[str],
    file: str | None,
    options: ListOptions,
    *,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """Probe a list; write each result as it finishes; return the exit status (see above)."""
    if stdin is None and file == "-":
        stdin = sys.stdin.buffer

    async def main() -> int:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        try:
            # Ctrl-C cancels the run instead of raising wherever the loop happens to be,
            # so the run can close its sessions, flush, and print its summary.
            if task is not None:
                loop.add_signal_handler(signal.SIGINT, task.cancel)
        except (NotImplementedError, RuntimeError):
            pass  # not the main thread, or no signals here: plain KeyboardInterrupt
        try:
            return await run_list_async(
                addresses, file, options, stdout=stdout, stderr=stderr, stdin=stdin
            )
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)

    try:
        return asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(message("list_interrupted", options.probe.lang), file=stderr)
        return EXIT_INTERRUPTED
