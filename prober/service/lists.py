"""List uploads in, list results out: CSV, JSON lines or plain lines (pure).

An upload is read whole (it is bounded by the server's body limit) into rows, each the
address to probe and the row's cells as uploaded, so that CSV results can repeat the
uploaded columns and add the result's after them.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prober.errors import InputError
from prober.output.listio import (
    ADDED_FIELDS,
    ADDRESS_COLUMNS,
    csv_cells,
    delimiter_of,
    result_record,
)

MAX_CELL = 4096

# Appended after the uploaded columns of a CSV upload: list mode's added columns (the
# CLI's CSV round trip), then when the answer was found and whether from the cache.
RESULT_COLUMNS = (*ADDED_FIELDS, "cached", "checked_at")


@dataclass(frozen=True, slots=True)
class Upload:
    kind: str  # csv | jsonl | lines
    columns: tuple[str, ...]  # the CSV header (or the one column of a headerless file)
    rows: tuple[tuple[str, Any], ...]  # (address, cells)


def kind_of(content_type: str, filename: str | None = None) -> str:
    media = content_type.split(";")[0].strip().lower()
    name = (filename or "").lower()
    if media in ("text/csv", "application/csv") or name.endswith(".csv"):
        return "csv"
    if media in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines") or (
        name.endswith((".jsonl", ".ndjson"))
    ):
        return "jsonl"
    if media in ("text/plain", "application/octet-stream", ""):
        return "lines"
    raise InputError("error_upload_media", media=media)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("error_upload_not_utf8", position=exc.start) from None


def parse_upload(data: bytes, kind: str, column: str | None, max_rows: int) -> Upload:
    text = _text(data)
    kind, columns, rows = read_rows(
        io.StringIO(text, newline=""), kind, column, upload=True
    )
    kept = tuple(itertools.islice(rows, max_rows + 1))
    if not kept:
        raise InputError("error_upload_empty")
    if len(kept) > max_rows:
        total = len(kept) + sum(1 for _ in rows)
        raise InputError("error_upload_rows", rows=total, limit=max_rows)
    return Upload(kind, columns, kept)


# -- rows, a record at a time (an upload read whole, and ``probe submit``'s file) ----------


Rows = Iterator[tuple[str, Any]]


def read_rows(
    lines: Iterator[str], kind: str, column: str | None, *, upload: bool
) -> tuple[str, tuple[str, ...], Rows]:
    """The rows of a list as ``(address, cells)``, read as they are asked for: CSV with an
    address column found by name (or ``column``), or a headerless CSV whose first row
    holds an address; JSON lines (objects with an address field, or strings); plain
    lines. ``upload``: for the service (whose option for the column is ``?column=``), not
    ``probe submit`` (``--column``)."""
    if kind == "csv":
        return _csv(lines, column, upload)
    if kind == "jsonl":
        return "jsonl", ("address",), _jsonl(lines)
    return "lines", ("address",), _lines(lines)


def _lines(lines: Iterator[str]) -> Rows:
    for line in lines:
        text = line.strip()[:MAX_CELL]
        if text:
            yield text, [text]


def _jsonl(lines: Iterator[str]) -> Rows:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InputError("error_upload_not_json", number=number) from None
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
        raise InputError("error_upload_no_address", number=number)


def _csv(
    lines: Iterator[str], column: str | None, upload: bool
) -> tuple[str, tuple[str, ...], Rows]:
    first_line = next(lines, "")
    # The delimiter as list mode finds it (";" from an Italian spreadsheet, tab, "|").
    reader = csv.reader(
        itertools.chain([first_line], lines), delimiter=delimiter_of(first_line.rstrip("\r\n"))
    )
    records = (r for r in reader if any(cell.strip() for cell in r))
    try:
        first = next(records)
    except StopIteration:
        return "csv", (), iter(())
    except csv.Error as exc:
        raise InputError("error_csv_unreadable", error=exc) from None
    head = [cell.strip() for cell in first]
    lowered = [cell.lower() for cell in head]
    data_first = False
    if column is not None:
        if column.lower() not in lowered:
            raise InputError("error_upload_column", column=column, columns=", ".join(head))
        index = lowered.index(column.lower())
    elif any(name in lowered for name in ADDRESS_COLUMNS):
        index = next(lowered.index(name) for name in ADDRESS_COLUMNS if name in lowered)
    elif any("@" in cell for cell in head):
        # No header: the first row is data; the address is its first cell with an @, and
        # the columns are named after the first row's width.
        index = next(i for i, cell in enumerate(head) if "@" in cell)
        head = ["address"] if len(first) == 1 else [f"column{i + 1}" for i in range(len(first))]
        data_first = True
    elif upload:
        raise InputError("error_upload_no_column")
    else:
        raise InputError("error_csv_no_address_column")

    def rows() -> Rows:
        if data_first:
            yield _cells(first, index)
        try:
            for record in records:
                yield _cells(record, index)
        except csv.Error as exc:
            raise InputError("error_csv_unreadable", error=exc) from None

    return "csv", tuple(head), rows()


def _cells(record: list[str], index: int) -> tuple[str, list[str]]:
    address = record[index].strip()[:MAX_CELL] if index < len(record) else ""
    return address, [cell[:MAX_CELL] for cell in record]


# -- results out --------------------------------------------------------------------------


def result_cells(result: dict[str, Any]) -> list[str]:
    record = result_record(result)
    record["cached"] = "" if result.get("cached") is None else str(result["cached"]).lower()
    record["checked_at"] = str(result.get("checked_at") or "")
    return [record[name] for name in RESULT_COLUMNS]


def _given(cells: Sequence[str]) -> str:
    """Uploaded cells as they came, as list mode keeps a CSV's own cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


def csv_header(columns: Sequence[str]) -> str:
    return f"{_given([*columns, *RESULT_COLUMNS])}\r\n"


def csv_row(kind: str, columns: Sequence[str], cells: Any, result: dict[str, Any]) -> str:
    if kind == "csv":
        given = [str(c) for c in cells] + [""] * (len(columns) - len(cells))
    else:
        address = cells if isinstance(cells, str) else result.get("address", "")
        if isinstance(cells, list):
            address = cells[0] if cells else ""
        elif isinstance(cells, dict):
            address = result.get("address", "")
        given = [str(address)]
    # The result's cells are made safe for a spreadsheet (a cell starting with "=" …).
    return f"{_given(given)},{csv_cells(result_cells(result))}\r\n"


def lines_of(rows: Iterator[tuple[int, str, str]]) -> Iterator[tuple[int, Any, dict[str, Any]]]:
    for row_no, cells, result in rows:
        yield row_no, json.loads(cells), json.loads(result)
