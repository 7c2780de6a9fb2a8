"""List uploads in, list results out: CSV, JSON lines or plain lines (pure).

An upload is read whole (it is bounded by the server's body limit) into rows, each the
address to probe and the row's cells as uploaded, so that CSV results can repeat the
uploaded columns and add the result's after them.
"""

from __future__ import annotations

import csv
import io
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
    if kind == "csv":
        upload = _csv(text, column)
    elif kind == "jsonl":
        upload = _jsonl(text)
    else:
        rows = tuple(
            (line.strip()[:MAX_CELL], [line.strip()[:MAX_CELL]])
            for line in text.splitlines()
            if line.strip()
        )
        upload = Upload("lines", ("address",), rows)
    if not upload.rows:
        raise InputError("error_upload_empty")
    if len(upload.rows) > max_rows:
        raise InputError("error_upload_rows", rows=len(upload.rows), limit=max_rows)
    return upload


def _csv(text: str, column: str | None) -> Upload:
    # The delimiter as list mode finds it (";" from an Italian spreadsheet, tab, "|").
    first = text.split("\n", 1)[0]
    reader = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter_of(first)))
    reader = [r for r in reader if any(cell.strip() for cell in r)]
    if not reader:
        return Upload("csv", (), ())
    head = [cell.strip() for cell in reader[0]]
    lowered = [cell.lower() for cell in head]
    if column is not None:
        if column.lower() not in lowered:
            raise InputError("error_upload_column", column=column, columns=", ".join(head))
        index = lowered.index(column.lower())
        body = reader[1:]
    elif any(name in lowered for name in ADDRESS_COLUMNS):
        index = next(lowered.index(name) for name in ADDRESS_COLUMNS if name in lowered)
        body = reader[1:]
    elif any("@" in cell for cell in head):
        # No header: the first row is data; the address is its first cell with an @.
        index = next(i for i, cell in enumerate(head) if "@" in cell)
        width = max(len(r) for r in reader)
        head = ["address"] if width == 1 else [f"column{i + 1}" for i in range(width)]
        body = reader
    else:
        raise InputError("error_upload_no_column")
    rows = []
    for record in body:
        address = record[index].strip()[:MAX_CELL] if index < len(record) else ""
        rows.append((address, [cell[:MAX_CELL] for cell in record]))
    return Upload("csv", tuple(head), tuple(rows))


def _jsonl(text: str) -> Upload:
    rows: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise InputError("error_upload_not_json", number=number) from None
        if isinstance(value, str):
            rows.append((value[:MAX_CELL], value))
            continue
        if isinstance(value, dict):
            found = next(
                (value[k] for k in ADDRESS_COLUMNS if isinstance(value.get(k), str)), None
            )
            if found is not None:
                rows.append((found[:MAX_CELL], value))
                continue
        raise InputError("error_upload_no_address", number=number)
    return Upload("jsonl", ("address",), tuple(rows))


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
