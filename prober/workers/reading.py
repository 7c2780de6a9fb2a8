"""Reading a list for ``probe submit`` a record at a time (I/O at the edge, bounded memory).

The same formats and rules as the service's uploads (:mod:`prober.service.lists`): CSV
with an address column found by name (or ``--column``), or a headerless CSV whose first
row holds an address; JSON lines (objects with an address field, or strings); plain
lines. Rows come out as ``(address, cells)``, the cells as they were read, so results can
repeat the input's columns; nothing but the current record is held.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from prober.errors import InputError
from prober.service.lists import ADDRESS_COLUMNS, MAX_CELL


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
        raise InputError(
            f"The list {str(path)!r} is not UTF-8 text (byte {exc.start} of a block cannot "
            "be decoded); save it as UTF-8 and submit it again."
        ) from None


def open_list(path: Path, kind: str, column: str | None, most: int) -> Listing:
    """Open ``path`` as a list of ``kind``; the rows are read as they are asked for, and
    reading past ``most`` rows raises :class:`InputError`."""
    try:
        stream = path.open("r", encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise InputError(f"Cannot read the list {str(path)!r}: {exc.strerror}.") from None
    lines = _decoding(path, stream)
    try:
        if kind == "csv":
            kind, columns, rows = _csv(lines, column)
        elif kind == "jsonl":
            columns, rows = ("address",), _jsonl(lines)
        else:
            columns, rows = ("address",), _lines(lines)
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
                raise InputError(
                    f"The list {str(path)!r} has more than {most} rows; split it into "
                    "smaller lists."
                )
            yield row
    finally:
        stream.close()
    if count == 0:
        raise InputError(f"The list {str(path)!r} holds no address.")


def _lines(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    for line in lines:
        text = line.strip()[:MAX_CELL]
        if text:
            yield text, [text]


def _jsonl(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InputError(
                f"Line {number} of the JSON lines is not JSON; each line must be an object "
                'such as {"address": "alice@example.com"} or a JSON string.'
            ) from None
        if isinstance(value, str):
            yield value[:MAX_CELL], value
            continue
        if isinstance(value, dict):
            found = next(
                (value[k] for k in ADDRESS_COLUMNS if isinstance(value.get(k), str)), None
            )
            if found is not None:
                yield found[:MAX_CELL], value
                continue
        raise InputError(
            f"Line {number} of the JSON lines has no address: give an object with an "
            '"address" (or "email") string, or a JSON string.'
        )


def _csv(
    lines: Iterator[str], column: str | None
) -> tuple[str, tuple[str, ...], Iterator[tuple[str, Any]]]:
    records = (r for r in csv.reader(lines) if any(cell.strip() for cell in r))
    try:
        first = next(records)
    except StopIteration:
        return "csv", (), iter(())
    except csv.Error as exc:
        raise InputError(f"The CSV cannot be read: {exc}.") from None
    head = [cell.strip() for cell in first]
    lowered = [cell.lower() for cell in head]
    data_first = False
    if column is not None:
        if column.lower() not in lowered:
            raise InputError(
                f"The CSV has no column {column!r}; its columns are: {', '.join(head)}."
            )
        index = lowered.index(column.lower())
    elif any(name in lowered for name in ADDRESS_COLUMNS):
        index = next(lowered.index(name) for name in ADDRESS_COLUMNS if name in lowered)
    elif any("@" in cell for cell in head):
        # No header: the first row is data; the address is its first cell with an @.
        # (Read a record at a time, the columns are named after the first row's width.)
        index = next(i for i, cell in enumerate(head) if "@" in cell)
        head = ["address"] if len(first) == 1 else [f"column{i + 1}" for i in range(len(first))]
        data_first = True
    else:
        raise InputError(
            "No column of the CSV is named like an address column (email, e-mail, mail, "
            "address); name it with --column NAME."
        )

    def rows() -> Iterator[tuple[str, Any]]:
        if data_first:
            yield _cells(first, index)
        try:
            for record in records:
                yield _cells(record, index)
        except csv.Error as exc:
            raise InputError(f"The CSV cannot be read: {exc}.") from None

    return "csv", tuple(head), rows()


def _cells(record: list[str], index: int) -> tuple[str, list[str]]:
    address = record[index].strip()[:MAX_CELL] if index < len(record) else ""
    return address, [cell[:MAX_CELL] for cell in record]

