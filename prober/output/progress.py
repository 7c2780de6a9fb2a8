"""The progress line of a list run: on standard error, on a terminal, never in the results.

One line, redrawn in place: a bar when the total is known (the input file's line count)
or a running count while input still streams in, the rate, the counts by verdict and the
time left. It writes only to the stream it is given (standard error), and by default
only when that stream is a terminal; ``--progress always`` draws it anyway (for a
terminal multiplexer that hides the tty), ``--progress never`` and ``--quiet`` never.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from typing import Any, TextIO

from prober.output.messages import count_of, message

MODES = ("auto", "always", "never")

_VERDICTS = ("deliverable", "undeliverable", "risky", "unknown")
_STYLE = {"deliverable": "green", "undeliverable": "red", "risky": "yellow", "unknown": "magenta"}


def wanted(mode: str, stream: TextIO) -> bool:
    """Whether to draw: ``auto`` draws on a terminal only (and not for TERM=dumb)."""
    if mode == "never":
        return False
    if mode == "always":
        return True
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and os.environ.get("TERM") != "dumb"


class Progress:
    """Counts results as they are written and redraws the line at most ten times a second.

    ``total`` is the number of records expected when known; :meth:`read` tells the
    line how many were read so far while input still streams in.
    """

    def __init__(
        self,
        stream: TextIO,
        enabled: bool,
        *,
        total: int | None = None,
        lang: str = "en",
        colour: bool = True,
    ) -> None:
        self.counts: Counter[str] = Counter()
        self.done = 0
        self._total = total
        self._read = 0
        self._lang = lang
        self._bar: Any = None
        self._task: Any = None
        self._colour = colour
        self._started = time.monotonic()
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as RichProgress,
        )

        console = Console(
            file=stream,
            force_terminal=True,
            no_color=not colour,
            highlight=False,
        )
        self._bar = RichProgress(
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            refresh_per_second=10,
        )
        self._task = self._bar.add_task("", total=total, rate="", left=self._text("eta"))
        self._bar.start()

    def _text(self, key: str, **values: object) -> str:
        return message(key, self._lang, **values)

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def read(self, count: int) -> None:
        """Records read from a stream so far: the total grows with them until it is known."""
        self._read = count
        if self._bar is not None and self._total is None:
            self._bar.update(self._task, total=max(count, self.done) or None)

    def total_known(self, count: int) -> None:
        self._total = count
        if self._bar is not None:
            self._bar.update(self._task, total=count)

    def add(self, verdict: str | None) -> None:
        """One record written: ``verdict`` None for a record without an address."""
        self.done += 1
        if verdict is not None:
            self.counts[verdict] += 1
        if self._bar is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        parts = []
        for name in _VERDICTS:
            if self.counts[name]:
                label = count_of(name, self.counts[name], self._lang)
                parts.append(f"[{_STYLE[name]}]{label}[/]" if self._colour else label)
        rate = self._text("rate", rate=f"{self.done / elapsed:.1f}")
        self._bar.update(self._task, advance=1, description="  ".join(parts), rate=rate)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
