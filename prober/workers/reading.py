"""Reading a list for ``probe submit`` a record at a time (I/O at the edge, bounded memory).

The formats and rules are the service's uploads' (:func:`prober.service.lists.read_rows`,
which reads a record at a time); here the file is opened, decoded and bounded. Rows come
out as ``(address, cells)``, the cells as they were read, so results can repeat the
input's columns; nothing but the current record is held.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prober.errors import InputError
from prober.service.lists import read_rows


@dataclass(frozen=True, slots=True)
class Listing:
    """A list being read: its kind, its columns, and its rows to come (once)."""

    kind: str  # csv | jsonl | lines
    columns: tuple[str, ...]
    rows: Generator[tuple[str, Any], None, None]


def _decoding(path: Path, stream: IO[str]) -> Iterator[str]:
    try:
        yield from stream
    except UnicodeDecodeError as exc:
        raise InputError("error_list_not_utf8", path=str(path), position=exc.start) from None


def open_list(path: Path, kind: str, column: str | None, most: int) -> Listing:
    """Open ``path`` as a list of ``kind``; the rows are read as they are asked for, and
    reading past ``most`` rows raises :class:`InputError`."""
    try:
        stream = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError("error_cannot_read_list", path=str(path), why=exc) from None
    lines = _decoding(path, stream)
    try:
        kind, columns, rows = read_rows(lines, kind, column, upload=False)
    except BaseException:
        stream.close()
        raise
    return Listing(kind, columns, _bounded(path, stream, rows, most))


def _bounded(
    path: Path, stream: IO[str], rows: Iterator[tuple[str, Any]], most: int
) -> Generator[tuple[str, Any], None, None]:
    count = 0
    try:
        for row in rows:
            count += 1
            if count > most:
                raise InputError("error_list_too_many_rows", path=str(path), limit=most)
            yield row
    finally:
        stream.close()
    if count == 0:
        raise InputError("error_list_no_address", path=str(path))
