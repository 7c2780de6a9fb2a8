"""Reading address lists and writing their results, streamed (list mode's file edge).

Input is read record by record and never whole. Three shapes are read:

- a list of addresses, one per line (blank lines skipped);
- CSV, when ``--column`` names the address column, when the file is named ``.csv``, or
  when its first line is a header naming an address column (``email``, ``mail`` …). Its
  dialect is read from the header: ``;`` (the default of Italian and other European
  spreadsheets), ``,``, tab or ``|``; quoted fields may hold line breaks; a UTF-8 byte
  order mark and CRLF line ends are kept;
- JSON lines, when the first line is a JSON object: the address is its ``email`` (or
  ``--column``) field, and the other fields travel with the result.

A record that cannot be an address at all — bytes that are not UTF-8, a line of a
megabyte, a row whose address cell is empty — becomes an :class:`Entry` carrying the
problem, so it gets a record of its own in the output and the run goes on.

Output keeps the input's order: results finish in any order, and :class:`Reorder` holds
the early ones until those before them are written. A CSV read in comes back out as the
same bytes, row by row, with the result appended as new columns whose names carry a
prefix no input column has (``probe_verdict`` …). Each output record is one ``os.write``
on a descriptor opened for appending, so a killed run leaves whole records and at most
one partial one at the end; ``--resume`` cuts the partial one off, checks that the file
was written from this input, and skips exactly the entries already written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import stat
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, TextIO

import orjson

from prober.errors import InputError, OutputError, Phrase
from prober.output.terminal import json_safe, safe, safe_block
from prober.results import ProbeResult

FORMATS = ("jsonl", "csv", "text", "json")

# No address is longer than 254 octets; a line far beyond that is reported, not parsed,
# and only its first bytes are kept in memory.
MAX_LINE = 4096
# A CSV record (which may span lines inside quotes) or a JSON line may legally be long;
# past this it is reported as unreadable and reading resumes at the next line.
MAX_RECORD = 1024 * 1024
_SHOWN = 80  # characters of an unusable line quoted in its result

# Column names taken as "the address" in a CSV file when --column is not given.
ADDRESS_COLUMNS = ("email", "e-mail", "email_address", "emailaddress", "mail", "address")
_DELIMITERS = (";", ",", "\t", "|")

# The record of a result in CSV output of a plain list (no input columns to keep).
CSV_FIELDS = (
    "address",
    "normalized",
    "verdict",
    "reason",
    "summary",
    "catch_all",
    "retry_after_ms",
    "forward_to",
    "code",
    "enhanced_code",
    "category",
    "mx_host",
    "elapsed_ms",
    "error",
    "disposable",
    "role",
    "free_provider",
    "provider",
    "suggestion",
    "normalized_provider",
)
# The columns appended to a CSV read in (after a prefix, see Table.prefix): the verdict
# first, then the rest of a plain list's record; the address is the row's own.
ADDED_FIELDS = ("verdict", "reason", "summary", "normalized") + CSV_FIELDS[
    CSV_FIELDS.index("catch_all") :
]


# Cells starting with these are formulas to a spreadsheet (OWASP "CSV injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Entry:
    """One input record: its place, the address text, and why it cannot be probed, if so.

    ``missing`` marks a record with no address at all (an empty CSV cell): it is written
    with its reason and never counted as a verdict. ``record`` is the CSV row exactly as
    read (line end excluded); ``fields`` the other fields of a JSON line.
    """

    text: str
    problem: str | None = None
    index: int = 0
    record: str | None = None
    ending: str = ""
    fields: Any = None
    missing: bool = False
    key: str | None = None  # what --resume compares: a CSV row's cells, else the text

    @property
    def address(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Table:
    """What a CSV input looked like, so that its rows can be written back as they were."""

    header: str  # the header record as read, without its line end
    names: tuple[str, ...]
    delimiter: str
    ending: str  # the header's line end: "\r\n", "\n" or "\r"
    bom: bool
    prefix: str  # for the added columns: a prefix no input column starts with
    column: int = 0  # the address column

    def empty_record(self) -> str:
        """A row of empty cells, standing in for a row that could not be read."""
        return self.delimiter * (len(self.names) - 1)

    def added_names(self, names: Sequence[str] = ADDED_FIELDS) -> list[str]:
        return [self.prefix + name for name in names]


def _prefix_for(names: Iterable[str]) -> str:
    lowered = [n.strip().lower() for n in names]
    prefix, n = "probe_", 1
    while any(name.startswith(prefix) for name in lowered):
        n += 1
        prefix = f"probe{n}_"
    return prefix


def delimiter_of(header: str) -> str:
    """The delimiter a header record uses: the candidate found most often outside quotes."""
    outside = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    text = "".join(outside)
    counts = {d: text.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


def _split_ending(record: str) -> tuple[str, str]:
    for ending in ("\r\n", "\n", "\r"):
        if record.endswith(ending):
            return record[: -len(ending)], ending
    return record, ""


def _row_key(cells: Sequence[str]) -> str:
    return "\x1f".join(cells)


def _parse_row(record: str, delimiter: str) -> list[str]:
    """One record's cells. A lone CR outside quotes (which the csv module refuses in a
    single record) is kept inside its cell rather than failing the whole input."""
    try:
        rows = list(csv.reader([record], delimiter=delimiter, quotechar='"', strict=False))
    except csv.Error:
        rows = list(csv.reader([record.replace("\r", "\x00")], delimiter=delimiter))
        rows = [[cell.replace("\x00", "\r") for cell in row] for row in rows]
    return rows[0] if rows else []


class Source:
    """The entries of a run: command-line addresses first, then the file's records.

    Opening checks what can be checked at once (the file exists, the CSV column is
    there) and raises :class:`InputError` for it; ``blank`` counts skipped empty lines
    and ``missing`` the records without an address. ``table`` describes a CSV input.
    """

    def __init__(
        self,
        addresses: Iterable[str],
        file: str | None,
        *,
        column: str | None = None,
        stdin: BinaryIO | None = None,
        csv_input: bool = False,
        csv_likely: bool = False,
    ) -> None:
        self.blank = 0
        self.missing = 0
        self.kind = "lines"
        self.table: Table | None = None
        self._addresses = list(addresses)
        self._stream: BinaryIO | None = None
        self._text: io.TextIOWrapper | None = None
        self._owned = False
        self._column = -1
        self._column_name = column
        self._first: str | None = None  # the first record, read while sniffing
        self._name: str | Phrase = file or ""
        if file is None:
            if column is not None:
                raise InputError("error_column_needs_file")
            return
        if file == "-":
            if stdin is None:
                raise InputError("error_no_stdin")
            self._stream = stdin
            self._name = Phrase("standard_input")
        else:
            try:
                self._stream = open(file, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise InputError("error_cannot_read", path=file, why=exc) from None
            self._owned = True
        try:
            self._sniff(
                csv_input or column is not None or file.lower().endswith(".csv"), csv_likely
            )
        except InputError:
            self.close()
            raise

    # -- what the file is ----------------------------------------------------------------

    def _sniff(self, csv_wanted: bool, csv_likely: bool) -> None:
        """JSON lines, CSV or a plain list, from the first line. ``csv_likely`` (CSV is
        asked for as output) takes a first line with a delimiter and no '@' — a header,
        not an address — as CSV too."""
        assert self._stream is not None
        head = self._stream.readline(MAX_LINE)
        self._head = head
        stripped = head.lstrip(b"\xef\xbb\xbf").strip()
        if stripped.startswith(b"{"):
            self.kind = "jsonl"
            return
        header_like = (
            csv_likely and b"@" not in stripped and any(d.encode() in stripped for d in _DELIMITERS)
        )
        if csv_wanted or header_like or self._looks_like_header(stripped):
            self.kind = "csv"
            self._open_csv()

    @staticmethod
    def _looks_like_header(line: bytes) -> bool:
        text = line.decode("utf-8", "replace").lower()
        if not any(d in text for d in _DELIMITERS):
            return text.strip().strip('"') in ADDRESS_COLUMNS
        names = _parse_row(text, delimiter_of(text))
        return any(n.strip().strip('"') in ADDRESS_COLUMNS for n in names)

    def _text_stream(self) -> io.TextIOWrapper:
        assert self._stream is not None
        stream: BinaryIO = _rejoined(self._head, self._stream)
        self._text = io.TextIOWrapper(
            stream, encoding="utf-8", errors="surrogateescape", newline=""
        )
        return self._text

    def _open_csv(self) -> None:
        text = self._text_stream()
        records = self._csv_records(text)
        first = next(records, None)
        self._records = records
        if first is None:
            return  # an empty file: no addresses, not an error
        raw, ending = _split_ending(first[0])
        bom = raw.startswith("\ufeff")
        raw = raw.removeprefix("\ufeff")
        delimiter = delimiter_of(raw)
        header = _parse_row(raw, delimiter)
        names = [h.strip().lower() for h in header]
        shown: str | Phrase = ", ".join(repr(h) for h in header) or Phrase("list_none")
        if self._column_name is not None:
            wanted = self._column_name.strip().lower()
            if wanted not in names:
                raise InputError(
                    "error_no_column", name=self._name, column=self._column_name, header=shown
                )
            self._column = names.index(wanted)
        else:
            found = next((c for c in ADDRESS_COLUMNS if c in names), None)
            if found is None:
                raise InputError("error_which_column", name=self._name, header=shown)
            self._column = names.index(found)
        self._column_name = header[self._column]
        self.table = Table(
            raw, tuple(header), delimiter, ending or "\n", bom, _prefix_for(header), self._column
        )

    def _csv_records(self, text: TextIO) -> Iterator[tuple[str, str | None]]:
        """Raw records (line end included), a record being complete once its quotes
        balance; a record past MAX_RECORD is given with its problem and reading resumes."""
        parts: list[str] = []
        size = 0
        odd = False
        while True:
            line = text.readline(MAX_LINE)
            if not line:
                if parts:
                    yield "".join(parts), None
                return
            parts.append(line)
            size += len(line)
            odd ^= line.count('"') % 2 == 1
            if odd and size > MAX_RECORD:
                yield (
                    "".join(parts)[:_SHOWN] + "…",
                    f"holds more than {MAX_RECORD} characters (a quote that is never closed?)",
                )
                parts, size, odd = [], 0, False
                continue
            if not odd and line.endswith(("\n", "\r")):
                yield "".join(parts), None
                parts, size = [], 0

    def close(self) -> None:
        # The wrappers never close what they wrap (standard input stays open for whoever
        # owns it); a file this source opened is closed here.
        if self._text is not None:
            self._text.close()
            self._text = None
        if self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None

    # -- the entries -------------------------------------------------------------------

    def __iter__(self) -> Iterator[Entry]:
        index = 0
        for address in self._addresses:
            if address.strip():
                yield Entry(address.strip(), index=index)
                index += 1
            else:
                self.blank += 1
        if self._stream is None:
            return
        if self.kind == "csv":
            rows: Iterator[Entry] = self._rows(index)
        elif self.kind == "jsonl":
            rows = self._json_lines(index)
        else:
            rows = self._lines(_rejoined(self._head, self._stream), index)
        yield from rows

    def _lines(self, stream: BinaryIO, index: int) -> Iterator[Entry]:
        number = 0
        while True:
            raw = stream.readline(MAX_LINE)
            if not raw:
                return
            number += 1
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte order mark, as some editors write
            if len(raw) >= MAX_LINE and not raw.endswith(b"\n"):
                size = len(raw)
                while True:  # skip the rest of the line without keeping it
                    more = stream.readline(MAX_LINE)
                    size += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                shown = raw[:_SHOWN].decode("utf-8", "replace") + "…"
                yield Entry(
                    shown,
                    f"Line {number} is {size} bytes long; no address is longer than 254 "
                    "octets, so it was not read as one.",
                    index,
                )
                index += 1
                continue
            line = raw.rstrip(b"\r\n")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Entry(
                    line.decode("utf-8", "replace").strip(),
                    f"Line {number} is not valid UTF-8 (byte 0x{line[exc.start]:02X} at "
                    f"position {exc.start + 1}); save the list as UTF-8.",
                    index,
                )
                index += 1
                continue
            text = text.strip()
            if not text:
                self.blank += 1
                continue
            yield Entry(text, index=index)
            index += 1

    def _rows(self, index: int) -> Iterator[Entry]:
        table = self.table
        if table is None:
            return
        blank = table.empty_record()
        blank_key = _row_key([""] * len(table.names))
        number = 1
        for raw_record, problem in self._records:
            number += 1
            record, ending = _split_ending(raw_record)
            ending = ending or table.ending
            row: list[str] | None = None
            if problem is None:
                try:
                    row = _parse_row(record, table.delimiter)
                except csv.Error as exc:
                    problem = f"cannot be read: {exc}"
            if row is None:
                # Written back as empty cells: what was read is not a row to copy.
                yield Entry(
                    "",
                    f"Row {number} of the CSV file {problem}.",
                    index,
                    record=blank,
                    ending=ending,
                    key=blank_key,
                )
                index += 1
                continue
            cell = row[table.column].strip() if table.column < len(row) else ""
            key = _row_key(row)
            if not cell:
                self.missing += 1
                yield Entry(
                    "",
                    f"Row {number} has no address in column {self._column_name!r}.",
                    index,
                    record,
                    ending,
                    fields=row,
                    missing=True,
                    key=key,
                )
            else:
                entry = self._cell_entry(cell, f"Row {number}", index)
                yield Entry(entry.text, entry.problem, index, record, ending, key=key, fields=row)
            index += 1

    @staticmethod
    def _cell_entry(cell: str, where: str, index: int) -> Entry:
        if len(cell) > MAX_LINE:
            return Entry(
                cell[:_SHOWN] + "…",
                f"{where} holds {len(cell)} characters in the address column; "
                "no address is longer than 254 octets.",
                index,
            )
        try:
            cell.encode("utf-8")
        except UnicodeEncodeError:
            raw = cell.encode("utf-8", "surrogateescape")
            return Entry(
                raw.decode("utf-8", "replace"),
                f"{where} is not valid UTF-8; save the list as UTF-8.",
                index,
            )
        return Entry(cell, index=index)

    def _json_lines(self, index: int) -> Iterator[Entry]:
        stream = _rejoined(self._head, self._stream) if self._stream is not None else None
        if stream is None:
            return
        wanted = self._column_name
        number = 0
        while True:
            raw = stream.readline(MAX_RECORD)
            if not raw:
                return
            number += 1
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            if not raw.strip():
                self.blank += 1
                continue
            where = f"Line {number}"
            if not raw.endswith(b"\n") and len(raw) >= MAX_RECORD:
                while (more := stream.readline(MAX_RECORD)) and not more.endswith(b"\n"):
                    pass
                yield Entry("", f"{where} is longer than {MAX_RECORD} bytes.", index)
                index += 1
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                shown = raw[:_SHOWN].decode("utf-8", "replace").strip()
                yield Entry(shown, f"{where} is not a JSON object.", index)
                index += 1
                continue
            if not isinstance(record, dict):
                yield Entry(str(record)[:_SHOWN], f"{where} is not a JSON object.", index)
                index += 1
                continue
            keys = {str(k).lower(): k for k in record}
            key = keys.get(wanted.lower()) if wanted else None
            if key is None and not wanted:
                key = next((keys[c] for c in ADDRESS_COLUMNS if c in keys), None)
            value = record.get(key) if key is not None else None
            if not isinstance(value, str) or not value.strip():
                self.missing += 1
                name = wanted or "email"
                yield Entry(
                    "",
                    f"{where} has no address in its {name!r} field.",
                    index,
                    fields=record,
                    missing=True,
                )
                index += 1
                continue
            entry = self._cell_entry(value.strip(), where, index)
            yield Entry(entry.text, entry.problem, index, fields=record)
            index += 1


class _Rejoined(io.RawIOBase):
    """A binary stream that gives back a line already read, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        read1 = getattr(self._stream, "read1", None)  # what is there, never waiting for more
        data = read1(len(buffer)) if read1 is not None else self._stream.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        return size


def _rejoined(head: bytes, stream: BinaryIO) -> io.BufferedReader:
    return io.BufferedReader(_Rejoined(head, stream))


def count_records(path: str) -> int | None:
    """Lines in a regular file (the progress bar's total), or None for a pipe."""
    try:
        if not os.path.isfile(path):
            return None
        count = 0
        last = b"\n"
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                count += chunk.count(b"\n")
                last = chunk[-1:]
        return count + (last != b"\n")
    except OSError:
        return None


# -- output --------------------------------------------------------------------------


def excel_safe(value: str) -> str:
    """A cell a spreadsheet will not run as a formula: one starting with ``=``, ``+``,
    ``-``, ``@``, tab or CR gets a leading apostrophe (the OWASP CSV-injection rule)."""
    return "'" + value if value.startswith(_FORMULA) else value


def result_row(result: ProbeResult) -> dict[str, str]:
    """The flat CSV record of a result."""
    return result_record(result.to_dict())


# Where each CSV column of a result comes from in its JSON form; the rest are computed.
_FROM_JSON = {
    "address": ("address",),
    "normalized": ("normalized",),
    "verdict": ("verdict",),
    "reason": ("reason",),
    "catch_all": ("catch_all",),
    "retry_after_ms": ("retry_after_ms",),
    "forward_to": ("forward_to",),
    "code": ("explanation", "code"),
    "enhanced_code": ("explanation", "enhanced_code"),
    "category": ("explanation", "category"),
    "error": ("error",),
    "disposable": ("flags", "disposable"),
    "role": ("flags", "role_name"),
    "free_provider": ("flags", "free_provider"),
    "provider": ("flags", "provider"),
    "suggestion": ("flags", "suggestion"),
    "normalized_provider": ("flags", "normalized_provider"),
}


def result_record(data: Mapping[str, Any]) -> dict[str, str]:
    """The flat CSV record of a result in its JSON form (what ``probe --json`` prints
    and the service stores): the one definition of every CSV front door's columns."""
    record = {}
    for name, path in _FROM_JSON.items():
        value: Any = data
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        record[name] = _flat(value)
    host = ""
    for attempt in reversed(data.get("attempts") or []):
        if any(step.get("stage") == "rcpt" for step in attempt.get("steps") or []):
            host = attempt.get("host") or ""
            break
    elapsed = data.get("elapsed_ms")
    record["summary"] = " ".join(str(data.get("summary") or "").split())
    record["mx_host"] = host
    record["elapsed_ms"] = "" if elapsed is None else f"{float(elapsed):.0f}"
    return {name: record[name] for name in CSV_FIELDS}


def _flat(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def csv_cells(values: Iterable[str], delimiter: str = ",") -> str:
    """One CSV record (no line end), every cell safe to open in a spreadsheet."""
    return _csv_cells((excel_safe(v) for v in values), delimiter)


def _missing_row(entry: Entry, lang: str) -> dict[str, str]:
    from prober.output.messages import translated

    row = dict.fromkeys(CSV_FIELDS, "")
    row.update(
        address=entry.text, reason="no_address", summary=translated(entry.problem or "", lang)
    )
    return row


def json_line(data: dict[str, Any]) -> str:
    """``data`` as compact JSON, non-ASCII kept as is, newline included.

    orjson writes the same text as ``json.dumps(data, ensure_ascii=False,
    separators=(",", ":"))`` for what a result holds (strings, ints, None, booleans and
    millisecond figures rounded to 0.1), several times faster: each line carries a whole
    transcript, and list mode writes one per address. What orjson refuses and json takes
    (a lone surrogate from undecodable input, an integer past 64 bits) goes through json.
    """
    try:
        line = orjson.dumps(data, option=orjson.OPT_APPEND_NEWLINE).decode("utf-8")
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
    return json_safe(line)  # C1 and bidi controls as \uXXXX: the same JSON, terminal-safe


# Fields --fields may name: the top-level keys of a result's JSON.
RESULT_FIELDS = (
    "address",
    "normalized",
    "verdict",
    "reason",
    "summary",
    "error",
    "warnings",
    "catch_all",
    "retry_after_ms",
    "forward_to",
    "explanation",
    "mx",
    "attempts",
    "elapsed_ms",
)


# --compact: everything but the transcript (explanation, MX answer, attempts).
COMPACT = "compact"
_COMPACT_FIELDS = tuple(f for f in RESULT_FIELDS if f not in ("explanation", "mx", "attempts"))


def parse_fields(text: str | None, fmt: str) -> tuple[str, ...] | None:
    """``--fields a,b,c`` checked against what the format can hold (``compact``: every
    field but the transcript)."""
    if text is None:
        return None
    if text == COMPACT:
        return _COMPACT_FIELDS if fmt != "csv" else None
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    known = CSV_FIELDS if fmt == "csv" else RESULT_FIELDS
    unknown = [n for n in names if n not in known]
    if not names or unknown:
        if not unknown:
            raise InputError("error_fields_none", format=fmt, known=", ".join(known))
        shown = ", ".join(map(repr, unknown))
        raise InputError("error_fields", unknown=shown, format=fmt, known=", ".join(known))
    if fmt == "csv" and "address" not in names:
        names = ("address", *names)  # the key --resume reads back
    if fmt == "jsonl" and "address" not in names:
        names = ("address", *names)
    return names


@dataclass(slots=True)
class Writer:
    """Writes records in input order as they come: one whole record per write, flushed.

    To a file, each record is a single ``os.write`` on a descriptor opened for
    appending, so a kill between two records leaves whole ones, and a kill during one
    leaves a partial last record that :func:`truncate_partial` removes.
    """

    format: str
    path: str | None
    stdout: TextIO
    append: bool = False
    table: Table | None = None
    fields: tuple[str, ...] | None = None
    full_text: bool = False  # text format: the whole transcript per address
    lang: str = "en"
    header_names: tuple[str, ...] = ()  # a CSV input's columns, naming its cells in JSON
    verbose: bool = False  # full text: every step explained
    verdict_only: bool = False  # full text: only each address's verdict line (-q)
    colour: bool = False  # full text: ANSI colours (standard output is a terminal)
    _fd: int | None = field(default=None, init=False)
    _items: int = field(default=0, init=False)
    # CSV has no escapes of its own: shown on a terminal, its outside text is escaped
    # (JSON and text already are); written to a file it stays exact.
    _terminal: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InputError("error_output_format", format=self.format)
        empty = True
        if self.path is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            if not self.append:
                flags |= os.O_TRUNC
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                raise InputError("error_cannot_write", path=self.path, why=exc) from None
            empty = os.fstat(self._fd).st_size == 0
        self._terminal = self.path is None and self.format == "csv" and _isatty(self.stdout)
        try:
            if self.format == "csv" and empty:
                self._put(self.csv_header())
            if self.format == "json":
                self._put("[")
        except OSError as exc:  # a full disk, a closed pipe: before any result
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            raise OutputError.of(exc) from None

    def csv_header(self) -> str:
        names = self.fields or CSV_FIELDS
        if self.table is not None:
            added = [n for n in names if n != "address"] if self.fields else ADDED_FIELDS
            cells = _csv_cells(self.table.added_names(added), self.table.delimiter)
            bom = "\ufeff" if self.table.bom else ""
            d = self.table.delimiter
            return f"{bom}{self.table.header}{d}{cells}{self.table.ending}"
        return _csv_cells(names, ",") + "\n"

    def render(self, entry: Entry, result: ProbeResult | None) -> str:
        """One entry's record, line end included, as :meth:`put` writes it (what goes
        between records is added there: records may be rendered before their turn)."""
        if self.format == "csv":
            return self._csv(entry, result)
        if self.format in ("jsonl", "json"):
            data = self._json(entry, result)
            if self.format == "json":
                text = json_safe(json.dumps(data, ensure_ascii=False, indent=2))
                return "\n".join("  " + line for line in text.splitlines())
            return json_line(data)
        if result is None:
            from prober.output.messages import translated

            problem = safe(translated(entry.problem or "", self.lang))
            return f"{'-':<13} {safe(entry.text) or '-'}  {problem}\n"
        if self.full_text:
            from prober.output.render import result_text, verdict_line

            if self.verdict_only:
                return verdict_line(result, self.lang, self.colour) + "\n"
            return result_text(result, self.lang, self.verbose, self.colour) + "\n"
        from prober.output.messages import message, translated
        from prober.output.render import flags_brief

        shown = safe(result.address)
        words = [message(f"verdict_{v}", self.lang) for v in _VERDICTS]
        width = max(map(len, words))
        verdict = message(f"verdict_{result.verdict}", self.lang)
        summary = safe(" ".join(translated(result.summary, self.lang).split()))
        brief = flags_brief(result.flags)
        brief = f"  {safe(brief)}" if brief else ""
        return f"{verdict:<{width}} {shown}  {summary}{brief}\n"

    def _json(self, entry: Entry, result: ProbeResult | None) -> dict[str, Any]:
        if result is None:
            data: dict[str, Any] = {
                "address": entry.text,
                "verdict": None,
                "reason": "no_address",
                "summary": _missing_row(entry, self.lang)["summary"],
            }
        else:
            data = result.to_dict()
            if self.fields is not None:
                data = {k: data[k] for k in self.fields if k in data}
        if entry.fields is not None:
            data["input"] = (
                dict(zip(self.header_names, entry.fields, strict=False))
                if isinstance(entry.fields, list)
                else entry.fields
            )
        return data

    def _csv(self, entry: Entry, result: ProbeResult | None) -> str:
        row = _missing_row(entry, self.lang) if result is None else result_row(result)
        names = self.fields or CSV_FIELDS
        if self.table is None:
            values = [excel_safe(row[n]) for n in names]
            return _csv_cells(values, ",") + "\n"
        added = [n for n in names if n != "address"] if self.fields else ADDED_FIELDS
        cells = _csv_cells([excel_safe(row[n]) for n in added], self.table.delimiter)
        record = entry.record if entry.record is not None else ""
        ending = entry.ending or self.table.ending
        return f"{record}{self.table.delimiter}{cells}{ending}"

    def write(self, entry: Entry, result: ProbeResult | None) -> None:
        self.put(self.render(entry, result))

    def put(self, record: str) -> None:
        """Write one rendered record, with what separates it from the one before."""
        if self.format == "json":
            record = ("\n" if self._items == 0 else ",\n") + record
        elif self.full_text and self._items and not self.verdict_only:
            record = "\n" + record
        self._put(record)
        self._items += 1

    def _put(self, text: str) -> None:
        if self._fd is None:
            self.stdout.write(safe_block(text) if self._terminal else text)
            self.stdout.flush()
            return
        data = text.encode("utf-8", "surrogateescape")
        written = os.write(self._fd, data)
        while written < len(data):  # a regular file takes it whole; be sure anyway
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self.format == "json":
            self._put("\n]\n" if self._items else "]\n")
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _csv_cells(values: Iterable[str], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(values)
    return buffer.getvalue()


class Reorder:
    """Holds results that finished early until every entry before them is written.

    ``put`` takes an entry's index and returns what can be written now, in order;
    ``waiting`` is how many are held (the driver stops reading input past a bound, so
    one slow address cannot make the buffer grow without end).
    """

    def __init__(self, start: int = 0) -> None:
        self.next = start
        self._held: dict[int, Any] = {}

    @property
    def waiting(self) -> int:
        return len(self._held)

    def put(self, index: int, item: Any) -> list[Any]:
        self._held[index] = item
        ready = []
        while self.next in self._held:
            ready.append(self._held.pop(self.next))
            self.next += 1
        return ready


# -- resume --------------------------------------------------------------------------


def _key(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _complete_end(handle: IO[bytes], fmt: str) -> int:
    """Where the last whole record ends: after its line end, and for CSV with its quotes
    balanced (a quoted cell may hold line breaks). The file's size when nothing is cut."""
    if fmt == "csv":
        handle.seek(0)
        odd = False
        end = 0
        position = 0
        for raw in handle:
            position += len(raw)
            odd ^= raw.count(b'"') % 2 == 1
            if not odd and raw.endswith((b"\n", b"\r")):
                end = position
        return end
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - 65536)
        handle.seek(start)
        chunk = handle.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def truncate_partial(path: str, fmt: str = "jsonl") -> int:
    """Cut a trailing partial record (a run killed mid-write); return the bytes removed.

    This only cuts; :func:`load_done` decides first that the file is this program's
    output and that the partial record is the start of one of its records.
    """
    try:
        handle = open(path, "r+b")  # noqa: SIM115
    except FileNotFoundError:
        return 0
    with handle:
        size = handle.seek(0, os.SEEK_END)
        keep = _complete_end(handle, fmt)
        if keep < size:
            handle.truncate(keep)
        return size - keep


_NOT_OURS = Phrase("resume_not_ours")


def _partial_is_ours(
    tail: bytes, fmt: str, path: str, header: str | None, width: int, delimiter: str
) -> None:
    """Raise unless ``tail`` (the last record, cut short) can be the beginning of a
    record this program writes: what a run killed in the middle of one write leaves."""
    if not tail:
        return
    if fmt == "jsonl":
        ours = tail.startswith(b'{"address":')
    elif header is not None:  # the header itself was cut short
        ours = header.encode("utf-8").startswith(tail)
    else:  # a row cut short: no more cells than the header has
        text = tail.decode("utf-8", "surrogateescape")
        try:
            cells = next(csv.reader([text], delimiter=delimiter), [])
        except csv.Error:
            cells = []
        ours = 0 < len(cells) <= width
    if not ours:
        raise InputError("error_resume_last_line", path=path, again=_NOT_OURS)


def _whole_lines(handle: IO[bytes], end: int) -> Iterator[bytes]:
    """The lines of ``handle`` up to byte ``end`` (where the partial record starts)."""
    handle.seek(0)
    read = 0
    for raw in handle:
        if read >= end:
            return
        read += len(raw)
        yield raw


_VERDICTS = ("deliverable", "undeliverable", "risky", "unknown")


class Done:
    """What an earlier run wrote: the entries' keys in order, and their verdicts.

    Output is in input order, so the first ``len(done)`` entries of the input are the
    ones already answered; :meth:`take` checks each against what was written (a file
    written from another list is refused, not silently mixed) and gives its verdict.
    Eight bytes per key and one per verdict: a million results cost some nine
    megabytes to resume from.
    """

    def __init__(
        self, written: Iterable[tuple[str, str]], path: str = "", *, by_row: bool = False
    ) -> None:
        self._by_row = by_row  # CSV written back: an entry is known by its whole row
        self._keys = array("Q")
        self._verdicts = bytearray()
        for address, verdict in written:
            self._keys.append(_key(address))
            self._verdicts.append(_VERDICTS.index(verdict) if verdict in _VERDICTS else 255)
        self._path = path
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._keys)

    def take(self, entry: Entry) -> str | None:
        """For an entry already written: its verdict ("" for one without an address).
        None once the entry is past what was written (it must be probed)."""
        index = self.skipped
        if index >= len(self._keys):
            return None
        known = entry.key if self._by_row and entry.key is not None else entry.text
        if self._keys[index] != _key(known):
            raise InputError(
                "error_resume_record", number=index + 1, path=self._path, text=entry.text
            )
        self.skipped += 1
        bits = self._verdicts[index]
        return _VERDICTS[bits] if bits < len(_VERDICTS) else ""


def load_done(path: str, fmt: str, writer: Writer | None = None) -> Done:
    """Read what an earlier run wrote to ``path``, for --resume.

    The whole file is checked first, and nothing is changed unless every record is a
    result this program wrote in this ``fmt``; then at most one trailing partial record
    (a run killed in the middle of a write) is cut off, and only when it is the
    beginning of such a record.
    """
    if fmt in ("text", "json"):
        raise InputError("error_resume_format", format=fmt)
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return Done(())
    except OSError as exc:
        raise InputError("error_resume_read", path=path, why=exc) from None
    by_row = fmt == "csv" and writer is not None and writer.table is not None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            # A device or a pipe (/dev/null, /dev/full) holds no earlier results, and
            # reading one may never end.
            return Done(())
        try:
            size = handle.seek(0, os.SEEK_END)
            keep = _complete_end(handle, fmt)
            handle.seek(keep)
            tail = handle.read(min(size - keep, 65536))  # its beginning is what is judged
            expected = writer.csv_header() if writer is not None else ",".join(CSV_FIELDS)
            delimiter = writer.table.delimiter if writer and writer.table else ","
            width = len(_parse_row(expected.removeprefix("\ufeff").rstrip("\r\n"), delimiter))
            header = expected if fmt == "csv" and keep == 0 else None
            _partial_is_ours(tail, fmt, path, header, width, delimiter)
            done = Done(
                _written(_whole_lines(handle, keep), fmt, path, writer), path, by_row=by_row
            )
        except OSError as exc:
            raise InputError("error_resume_read", path=path, why=exc) from None
    if keep < size:
        truncate_partial(path, fmt)
    return done


def _written(
    lines: Iterable[bytes], fmt: str, path: str, writer: Writer | None
) -> Iterator[tuple[str, str]]:
    again = _NOT_OURS
    if fmt == "jsonl":
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                try:
                    record: Any = orjson.loads(raw)  # several times faster, same answer
                except orjson.JSONDecodeError:
                    record = json.loads(raw)
                address = record["address"]
                verdict = record["verdict"]
                if not isinstance(address, str) or (
                    verdict not in _VERDICTS
                    and not (verdict is None and record.get("reason") == "no_address")
                ):
                    raise ValueError(verdict)
                verdict = verdict or ""
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InputError(
                    "error_resume_line", number=number, path=path, again=again
                ) from None
            yield str(address), verdict
        return
    table = writer.table if writer is not None else None
    text = (raw.decode("utf-8", "surrogateescape") for raw in lines)
    try:
        delimiter = table.delimiter if table is not None else ","
        reader = csv.reader(text, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if writer is not None:
            expected = _parse_row(
                writer.csv_header().removeprefix("\ufeff").rstrip("\r\n"), delimiter
            )
            if header != expected:
                raise InputError("error_resume_columns", path=path, again=again)
        elif (
            "address" not in header or "verdict" not in header or not set(header) <= set(CSV_FIELDS)
        ):
            raise InputError(
                "error_resume_header", path=path, header=",".join(CSV_FIELDS[:4]), again=again
            )
        prefix = table.prefix if table is not None else ""
        judged = header.index(prefix + "verdict") if prefix + "verdict" in header else -1
        ours = len(header) - len(table.names) if table is not None else 0
        column = header.index("address") if table is None else -1
        for row in reader:
            if not row and table is None:
                continue
            verdict = row[judged] if 0 <= judged < len(row) else ""
            if (table is None and len(row) != len(header)) or (
                verdict and verdict not in _VERDICTS
            ):
                raise InputError(
                    "error_resume_row", number=reader.line_num, path=path, again=again
                )
            if table is not None:
                yield _row_key(row[: len(row) - ours]), verdict
                continue
            address = row[column]
            if address.startswith("'") and address[1:].startswith(_FORMULA):
                address = address[1:]  # as excel_safe wrote it
            yield address, verdict
    except csv.Error as exc:
        raise InputError("error_resume_csv", path=path, error=exc, again=again) from None


# -- file safety --------------------------------------------------------------------
def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_output_path(
    output: str | None, inputs: Iterable[str | None], *, stdin: BinaryIO | None = None
) -> None:
    """Refuse an ``--output`` that is one of the run's inputs, before anything is opened
    for writing: opening it would truncate (or, with --resume, append to) the very file
    being read. Files are compared, not names: ``./list.txt`` and ``list.txt``, a symbolic
    link and a hard link to the input are the same file. ``-`` among the inputs is
    standard input, compared with the output when it is a redirected file.
    """
    if output is None or output == "-":
        return
    try:
        target: os.stat_result | None = os.stat(output)
    except OSError:
        target = None  # not there yet (or unreachable: Writer says why)
    if target is not None and not stat.S_ISREG(target.st_mode):
        return  # a terminal, a pipe, /dev/null: writing there destroys no file
    real = os.path.realpath(output)
    for name in inputs:
        if name is None:
            continue
        if name == "-":
            if stdin is None or target is None:
                continue
            try:
                same = _same_file(os.fstat(stdin.fileno()), target)
            except (OSError, ValueError, io.UnsupportedOperation):
                continue
            if same:
                raise InputError("error_output_is_stdin", output=output)
            continue
        try:
            source = os.stat(name)
        except OSError:
            source = None
        if (source is not None and target is not None and _same_file(source, target)) or (
            os.path.realpath(name) == real
        ):
            raise InputError("error_output_is_input", output=output, name=name)


def check_list_file(file: str | None) -> None:
    """Refuse a ``--file`` that is a device (``/dev/zero`` never ends, ``/dev/full``
    neither): a list is a regular file, a pipe or standard input."""
    if file is None or file == "-":
        return
    try:
        mode = os.stat(file).st_mode
    except OSError:
        return  # Source says why it cannot be read
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise InputError("error_list_device", file=file)
