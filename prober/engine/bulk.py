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
per run, once an address of the domain has been accepted. At most ``window`` addresses
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
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from prober.engine.core import Engine, EngineLimits
from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError
from prober.output.listio import Done, Entry, Source, Writer, load_done
from prober.resolve.mx import Resolver
from prober.results import ProbeOptions, ProbeResult

Clock = Callable[[], float]

EXIT_OK = 0
EXIT_UNDELIVERABLE = 1
EXIT_ERROR = 2
EXIT_RISKY = 3
EXIT_UNKNOWN = 4
EXIT_INTERRUPTED = 130

_DOMAINS = 20000  # domains whose refusal counts the summary keeps


@dataclass(frozen=True, slots=True)
class ListOptions:
    probe: ProbeOptions
    concurrency: int = 20  # global connection limit
    per_host: int = 2  # connections per MX host at once
    rate: float | None = None  # RCPT commands per second per domain (None: no limit)
    rcpt_per_transaction: int = 20
    greylist_retry: float | None = None  # seconds; re-probe greylisted addresses once after
    format: str = "jsonl"  # jsonl | csv | text
    output: str | None = None  # path; None = stdout
    resume: bool = False
    column: str | None = None  # CSV input column holding addresses
    progress: bool = False  # progress bar on stderr (the CLI passes True only for a TTY)
    rcpt_per_session: int = 100  # recipients one connection asks about before QUIT
    backoff: float = 30.0  # first pause of a host after 421 / rate limiting; doubles
    window: int = 2000  # addresses in flight at once: the bound on memory
    quiet: bool = False  # no summary on stderr
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
    resumed: int = 0  # skipped: already in the output
    earlier: Counter[str] = field(default_factory=Counter)  # their verdicts, for the status
    connections: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def results(self) -> int:
        return sum(self.verdicts.values())

    def add(self, result: ProbeResult) -> None:
        self.verdicts[str(result.verdict)] += 1
        self.reasons[str(result.reason)] += 1
        if result.reason in (Reason.BLOCKED, Reason.RATE_LIMITED) and result.normalized:
            self.refusing[result.normalized.rpartition("@")[2]] += 1
            if len(self.refusing) > _DOMAINS:
                for domain, _count in self.refusing.most_common()[_DOMAINS // 2 :]:
                    del self.refusing[domain]

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

    def summary(self) -> str:
        elapsed = time.monotonic() - self.started
        counts = ", ".join(f"{self.verdicts[str(v)]} {v}" for v in Verdict if self.verdicts[str(v)])
        lines = [
            f"{_count(self.results, 'result')} ({self.probed} distinct) in {elapsed:.1f} s"
            + (f": {counts}." if counts else ".")
        ]
        if self.reasons:
            top = ", ".join(f"{r} {n}" for r, n in self.reasons.most_common(5))
            lines.append(f"Top reasons: {top}.")
        if self.refusing:
            worst = ", ".join(f"{d} ({n})" for d, n in self.refusing.most_common(5))
            lines.append(f"Domains that blocked or rate-limited us: {worst}.")
        skipped = []
        if self.resumed:
            skipped.append(f"{self.resumed} already in the output")
        if self.blank:
            skipped.append(_count(self.blank, "blank line"))
        if skipped:
            lines.append(f"Skipped: {'; '.join(skipped)}.")
        if not self.results and not self.resumed:
            lines.append("The input held no address.")
        return "\n".join(lines)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


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
            verdict = done.take(entry.text) if done is not None else None
            if verdict is not None:
                tally.resumed += 1
                tally.earlier[verdict] += 1
                continue
            yield entry


def _islice(iterator: Iterator[Entry], count: int) -> Iterator[Entry]:
    for _ in range(count):
        try:
            yield next(iterator)
        except StopIteration:
            return


class _Progress:
    """A rich progress line on stderr with counts per verdict (only when asked for)."""

    def __init__(self, stderr: TextIO, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._counts: Counter[str] = Counter()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("{task.completed} probed"),
            BarColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=Console(file=stderr),
            transient=True,
        )
        self._task = self._bar.add_task("", total=None)
        self._bar.start()

    def add(self, result: ProbeResult) -> None:
        if self._bar is None:
            return
        self._counts[str(result.verdict)] += 1
        text = "  ".join(f"{v} {self._counts[str(v)]}" for v in Verdict)
        self._bar.update(self._task, advance=1, description=text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


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
    try:
        if options.resume and options.output is None:
            raise InputError("--resume needs --output: the file to read back and add to.")
        if options.output is not None and options.output == file:
            raise InputError("--output would overwrite the input file; name another file.")
        done = None
        if options.resume and options.output is not None:
            done = load_done(options.output, options.format)
        source = Source(addresses, file, column=options.column, stdin=stdin)
    except InputError as exc:
        print(f"probe: {exc}", file=stderr)
        return EXIT_ERROR
    try:
        writer = Writer(options.format, options.output, stdout, append=options.resume)
    except InputError as exc:
        source.close()
        print(f"probe: {exc}", file=stderr)
        return EXIT_ERROR
    tally = Tally()
    progress = _Progress(stderr, options.progress)
    engine = Engine(options.probe, options.limits(), resolver=resolver, rng=rng)
    interrupted = False
    try:
        async for entry, result in engine.stream(_entries(source, done, tally)):
            writer.write(result)
            tally.add(result)
            progress.add(result)
            if on_result is not None:
                on_result(entry, result)
    except asyncio.CancelledError:
        # Ctrl-C (see run_list): stop taking addresses; the sessions in flight are
        # cancelled below and say QUIT; every result already written is a whole line.
        interrupted = True
    except OSError as exc:
        progress.stop()
        print(f"probe: cannot write the results: {exc.strerror or exc}.", file=stderr)
        return EXIT_ERROR
    finally:
        progress.stop()
        await engine.close()
        writer.close()
        source.close()
    tally.probed = engine.distinct
    tally.connections = engine.connections
    if not options.quiet:
        print(tally.summary(), file=stderr)
    if interrupted:
        resume = " Run again with --resume to continue." if options.output else ""
        print(f"probe: interrupted; the results written so far are complete.{resume}", file=stderr)
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
        print("probe: interrupted; the results written so far are complete lines.", file=stderr)
        return EXIT_INTERRUPTED
