"""Reading address lists and writing their results, streamed (list mode's file edge).

Input is read line by line (or row by row for CSV) and never whole: a line that cannot
be an address at all — bytes that are not UTF-8, a line of a megabyte — becomes an
:class:`Entry` carrying the problem, so it gets a result of its own and the run goes on.

Output is written one whole line per write and flushed at once, so a run that is killed
leaves at most one partial line at the end. ``--resume`` cuts that partial line off and
skips every input whose result is already in the file: each written result is counted,
so a list holding an address twice gets it twice, never three times.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import json
import os
import stat
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

import orjson

from prober.errors import InputError, OutputError
from prober.output.render import flags_brief
from prober.output.terminal import json_safe, safe, safe_block
from prober.results import ProbeResult

FORMATS = ("jsonl", "csv", "text")

# No address is longer than 254 octets; a line far beyond that is reported, not parsed,
# and only its first bytes are kept in memory.
MAX_LINE = 4096
_SHOWN = 80  # characters of an unusable line quoted in its result

# Column names taken as "the address" in a CSV file when --column is not given.
_ADDRESS_COLUMNS = ("email", "e-mail", "email_address", "emailaddress", "mail", "address")

CSV_FIELDS = (
    "address",
    "normalized",
    "verdict",
    "reason",
    "summary",
    "catch_all",
    "retry_after",
    "code",
    "enhanced_code",
    "category",
    "mx_host",
    "elapsed",
    "error",
    "disposable",
    "role",
    "free_provider",
    "provider",
    "suggestion",
    "normalized_provider",
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One input line or CSV cell: the text, and why it cannot be an address, if it cannot."""

    text: str
    problem: str | None = None


class Source:
    """The entries of a run: command-line addresses first, then the file's lines.

    Opening checks what can be checked at once (the file exists, the CSV column is
    there) and raises :class:`InputError` for it; ``blank`` counts skipped empty lines.
    """

    def __init__(
        self,
        addresses: Iterable[str],
        file: str | None,
        *,
        column: str | None = None,
        stdin: BinaryIO | None = None,
    ) -> None:
        self.blank = 0
        self._addresses = list(addresses)
        self._stream: BinaryIO | None = None
        self._text: io.TextIOWrapper | None = None
        self._owned = False
        self._csv: Iterator[list[str]] | None = None
        self._column = -1
        self._row = 1
        if file is None:
            if column is not None:
                raise InputError("--column needs --file: it names a column of a CSV file.")
            return
        if file == "-":
            if stdin is None:
                raise InputError("No standard input to read addresses from.")
            self._stream = stdin
        else:
            try:
                self._stream = open(file, "rb")  # noqa: SIM115 - closed by close()
            except OSError as exc:
                raise InputError(f"Cannot read {file}: {exc.strerror or exc}.") from None
            self._owned = True
        if column is not None or file.lower().endswith(".csv"):
            try:
                self._open_csv(file, column)
            except InputError:
                self.close()
                raise

    def _open_csv(self, file: str, column: str | None) -> None:
        assert self._stream is not None
        text = io.TextIOWrapper(
            self._stream, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self._text = text
        # A cell may legally be long; a megabyte one is reported, not a crash.
        csv.field_size_limit(max(csv.field_size_limit(), 2 * 1024 * 1024))
        self._csv = csv.reader(text)
        try:
            header = next(self._csv, None)
        except csv.Error as exc:
            raise InputError(f"{file} is not readable as CSV: {exc}.") from None
        if header is None:
            self._csv = iter(())  # an empty file: no addresses, not an error
            return
        names = [h.strip().lower() for h in header]
        if column is not None:
            wanted = column.strip().lower()
            if wanted not in names:
                shown = ", ".join(repr(h) for h in header) or "none"
                raise InputError(f"{file} has no column {column!r} (its header names: {shown}).")
            self._column = names.index(wanted)
            return
        for candidate in _ADDRESS_COLUMNS:
            if candidate in names:
                self._column = names.index(candidate)
                return
        raise InputError(
            f"Which column of {file} holds the addresses? Name it with --column "
            f"(the header names: {', '.join(repr(h) for h in header)})."
        )

    def close(self) -> None:
        if self._text is not None:
            if self._owned:
                self._text.close()
            else:
                self._text.detach()  # standard input stays open for whoever owns it
            self._text = None
        elif self._owned and self._stream is not None:
            self._stream.close()
        self._stream = None

    def __iter__(self) -> Iterator[Entry]:
        for address in self._addresses:
            if address.strip():
                yield Entry(address.strip())
            else:
                self.blank += 1
        if self._stream is None:
            return
        if self._csv is not None:
            yield from self._rows()
        else:
            yield from self._lines(self._stream)

    def _lines(self, stream: BinaryIO) -> Iterator[Entry]:
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
                )
                continue
            line = raw.rstrip(b"\r\n")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Entry(
                    line.decode("utf-8", "replace").strip(),
                    f"Line {number} is not valid UTF-8 (byte 0x{line[exc.start]:02X} at "
                    f"position {exc.start + 1}); save the list as UTF-8.",
                )
                continue
            text = text.strip()
            if not text:
                self.blank += 1
                continue
            yield Entry(text)

    def _rows(self) -> Iterator[Entry]:
        assert self._csv is not None
        while True:
            self._row += 1
            try:
                row = next(self._csv)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Entry("", f"Row {self._row} of the CSV file cannot be read: {exc}.")
                continue
            cell = row[self._column].strip() if self._column < len(row) else ""
            if not cell:
                self.blank += 1
                continue
            if len(cell) > MAX_LINE:
                yield Entry(
                    cell[:_SHOWN] + "…",
                    f"Row {self._row} holds {len(cell)} characters in the address column; "
                    "no address is longer than 254 octets.",
                )
                continue
            try:
                cell.encode("utf-8")
            except UnicodeEncodeError:
                raw = cell.encode("utf-8", "surrogateescape")
                yield Entry(
                    raw.decode("utf-8", "replace"),
                    f"Row {self._row} is not valid UTF-8; save the list as UTF-8.",
                )
                continue
            yield Entry(cell)


# -- output --------------------------------------------------------------------------


def result_row(result: ProbeResult) -> dict[str, str]:
    """The flat CSV record of a result."""
    why = result.explanation
    host = ""
    for attempt in reversed(result.attempts):
        if attempt.rcpt:
            host = attempt.host
            break
    return {
        "address": result.address,
        "normalized": result.normalized or "",
        "verdict": str(result.verdict),
        "reason": str(result.reason),
        "summary": " ".join(result.summary.split()),
        "catch_all": "" if result.catch_all is None else str(result.catch_all).lower(),
        "retry_after": "" if result.retry_after is None else str(result.retry_after),
        "code": "" if why is None or why.code is None else str(why.code),
        "enhanced_code": "" if why is None or why.enhanced_code is None else why.enhanced_code,
        "category": "" if why is None else str(why.category),
        "mx_host": host,
        "elapsed": f"{result.elapsed:.3f}",
        "error": result.error or "",
        **_flag_cells(result),
    }


def _flag_cells(result: ProbeResult) -> dict[str, str]:
    flags = result.flags
    if flags is None:
        return {k: "" for k in CSV_FIELDS[CSV_FIELDS.index("disposable") :]}
    return {
        "disposable": str(flags.disposable).lower(),
        "role": flags.role_name or "",
        "free_provider": str(flags.free_provider).lower(),
        "provider": flags.provider or "",
        "suggestion": flags.suggestion or "",
        "normalized_provider": flags.normalized_provider or "",
    }


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


def render_line(result: ProbeResult, fmt: str) -> str:
    """One result as one line of output, newline included."""
    if fmt == "jsonl":
        return json_line(result.to_dict())
    if fmt == "csv":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(result_row(result).values())
        return buffer.getvalue()
    summary = safe(" ".join(result.summary.split()))
    brief = flags_brief(result.flags)
    brief = f"  {safe(brief)}" if brief else ""
    return f"{result.verdict!s:<13} {safe(result.address)}  {summary}{brief}\n"


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_FIELDS)
    return buffer.getvalue()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Writer:
    """Writes results as they come: one whole line per write, flushed.

    To a file, each line is a single ``os.write`` on a descriptor opened for appending,
    so a kill between two results leaves whole lines, and a kill during one leaves a
    partial last line that :func:`truncate_partial` removes.
    """

    def __init__(self, fmt: str, path: str | None, stdout: TextIO, *, append: bool) -> None:
        if fmt not in FORMATS:
            raise InputError(f"Unknown output format {fmt!r}; use jsonl, csv or text.")
        self.format = fmt
        self._stdout = stdout
        self._fd: int | None = None
        # CSV has no escapes of its own: shown on a terminal, its outside text is
        # escaped (JSON lines and text already are); written to a file it stays exact.
        self._terminal = path is None and fmt == "csv" and _isatty(stdout)
        if path is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            if not append:
                flags |= os.O_TRUNC
            try:
                self._fd = os.open(path, flags, 0o644)
            except OSError as exc:
                raise InputError(f"Cannot write {path}: {exc.strerror or exc}.") from None
            empty = os.fstat(self._fd).st_size == 0
        else:
            empty = True
        if fmt == "csv" and empty:
            try:
                self._put(csv_header())
            except OSError as exc:  # a full disk, a closed pipe: before any result
                self.close()
                raise OutputError.of(exc) from None

    def write(self, result: ProbeResult) -> None:
        self._put(render_line(result, self.format))

    def _put(self, line: str) -> None:
        if self._fd is None:
            self._stdout.write(safe_block(line) if self._terminal else line)
            self._stdout.flush()
            return
        data = line.encode("utf-8", "surrogateescape")
        written = os.write(self._fd, data)
        while written < len(data):  # a regular file takes it whole; be sure anyway
            written += os.write(self._fd, data[written:])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


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
                raise InputError(
                    f"--output {output} is the file standard input is reading the list "
                    "from; writing to it would destroy the list. Name another output file."
                )
            continue
        try:
            source = os.stat(name)
        except OSError:
            source = None
        if (source is not None and target is not None and _same_file(source, target)) or (
            os.path.realpath(name) == real
        ):
            raise InputError(
                f"--output {output} is the same file as the input {name}; writing to it "
                "would destroy what is being read. Name another output file."
            )


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
        raise InputError(
            f"{file} is a device, not a list of addresses; give a text or CSV file, or - "
            "for standard input."
        )


# -- resume --------------------------------------------------------------------------


def _tail_start(handle: BinaryIO) -> int:
    """Where the trailing partial line starts (the file's size when it ends in a newline)."""
    size = handle.seek(0, os.SEEK_END)
    end = size
    while end > 0:
        start = max(0, end - 65536)
        handle.seek(start)
        chunk = handle.read(end - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


def truncate_partial(path: str) -> int:
    """Cut a trailing partial line (a run killed mid-write); return the bytes removed.

    This only cuts; :func:`load_done` decides first that the file is this program's
    output and that the partial line is the start of one of its lines.
    """
    try:
        handle = open(path, "r+b")  # noqa: SIM115
    except FileNotFoundError:
        return 0
    with handle:
        size = handle.seek(0, os.SEEK_END)
        keep = _tail_start(handle)
        if keep < size:
            handle.truncate(keep)
        return size - keep


_NOT_OURS = (
    "resume into the file an earlier run wrote, in the same --format; the file was not "
    "changed."
)


def _partial_is_ours(tail: bytes, fmt: str, path: str, header_seen: bool) -> None:
    """Raise unless ``tail`` (the last line, without its newline) can be the beginning
    of a line this program writes: a run killed in the middle of one write."""
    if not tail:
        return
    if fmt == "jsonl":
        ours = tail.startswith(b'{"address":')
    elif not header_seen:
        ours = csv_header().encode("utf-8").startswith(tail)
    else:
        text = tail.decode("utf-8", "surrogateescape")
        try:
            fields = next(csv.reader([text]), [])
        except csv.Error:
            fields = []
        ours = 0 < len(fields) <= len(CSV_FIELDS)
    if not ours:
        raise InputError(
            f"The last line of {path} has no newline and is not the beginning of a result "
            f"this program writes; {_NOT_OURS}"
        )


def _key(text: str) -> int:
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# The verdict of each result read back, in the three low bits of its digest.
_VERDICTS = ("deliverable", "undeliverable", "risky", "unknown")
_LOW = 7
_CHUNK = 65536


class Done:
    """The inputs already answered in an output file, as a multiset of 8-byte digests.

    Each entry is a digest of the address with its verdict in the three low bits, in one
    sorted array, plus a bitmap of the entries used: about nine bytes per result, so a
    million-line output costs some ten megabytes to resume from. The array is built
    from sorted chunks merged into place, never from a list of a million numbers.
    """

    def __init__(self, written: Iterable[tuple[int, str]]) -> None:
        chunks: list[array[int]] = []
        pending: list[int] = []
        for key, verdict in written:
            pending.append((key & ~_LOW) | _verdict_bits(verdict))
            if len(pending) >= _CHUNK:
                chunks.append(array("Q", sorted(pending)))
                pending = []
        if pending:
            chunks.append(array("Q", sorted(pending)))
        if len(chunks) == 1:
            self._keys = chunks[0]
        else:
            self._keys = array("Q", heapq.merge(*chunks))
        del chunks
        self._used = bytearray(len(self._keys))
        self.skipped = 0

    def __len__(self) -> int:
        return len(self._keys)

    def take(self, text: str) -> str | None:
        """The verdict written for ``text`` if a result for it is in the file and not yet
        claimed by an earlier line (claiming it); None when it must be probed."""
        if not self._keys:
            return None
        key = _key(text) & ~_LOW
        index = bisect_left(self._keys, key)
        while index < len(self._keys) and self._keys[index] & ~_LOW == key:
            if not self._used[index]:
                self._used[index] = 1
                self.skipped += 1
                bits = self._keys[index] & _LOW
                return _VERDICTS[bits] if bits < len(_VERDICTS) else "unknown"
            index += 1
        return None


def _verdict_bits(verdict: str) -> int:
    return _VERDICTS.index(verdict) if verdict in _VERDICTS else len(_VERDICTS)


def load_done(path: str, fmt: str) -> Done:
    """Read what an earlier run wrote to ``path``, for --resume.

    The whole file is checked first, and nothing is changed unless every line is a
    result this program wrote in this ``fmt``; then at most one trailing partial line
    (a run killed in the middle of a write) is cut off, and only when it is the
    beginning of such a line.
    """
    if fmt == "text":
        raise InputError(
            "--resume needs --format jsonl or csv: the text format is for people to read "
            "and cannot be read back reliably."
        )
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return Done(())
    except OSError as exc:
        raise InputError(f"Cannot read {path} to resume: {exc.strerror or exc}.") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            # A device or a pipe (/dev/null, /dev/full) holds no earlier results, and
            # reading one may never end.
            return Done(())
        try:
            size = handle.seek(0, os.SEEK_END)
            keep = _tail_start(handle)
            handle.seek(keep)
            tail = handle.read(min(size - keep, 65536))  # its beginning is what is judged
            handle.seek(0)
            _partial_is_ours(tail, fmt, path, header_seen=keep > 0)
            done = Done(_written(_whole_lines(handle, keep), fmt, path))
        except OSError as exc:
            raise InputError(f"Cannot read {path} to resume: {exc.strerror or exc}.") from None
    if keep < size:
        truncate_partial(path)
    return done


def _whole_lines(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines of ``handle`` up to byte ``end`` (where the partial line starts)."""
    read = 0
    for raw in handle:
        if read >= end:
            return
        read += len(raw)
        yield raw


def _written(lines: Iterable[bytes], fmt: str, path: str) -> Iterator[tuple[int, str]]:
    if fmt == "jsonl":
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                record: Any = json.loads(raw)
                address = record["address"]
                verdict = record["verdict"]
                if not isinstance(address, str) or verdict not in _VERDICTS:
                    raise ValueError(verdict)
            except (ValueError, KeyError, TypeError, AttributeError):
                raise InputError(
                    f"Line {number} of {path} is not a result written by this program; "
                    f"{_NOT_OURS}"
                ) from None
            yield _key(address), verdict
        return
    text = (raw.decode("utf-8", "surrogateescape") for raw in lines)
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            return
        if "address" not in header or "verdict" not in header or not set(header) <= set(
            CSV_FIELDS
        ):
            raise InputError(
                f"{path} does not start with the header this program writes "
                f"({','.join(CSV_FIELDS[:4])},…); {_NOT_OURS}"
            )
        column = header.index("address")
        judged = header.index("verdict")
        for row in reader:
            if not row:
                continue
            if len(row) != len(header) or row[judged] not in _VERDICTS:
                raise InputError(
                    f"Row {reader.line_num} of {path} is not a result written by this "
                    f"program; {_NOT_OURS}"
                )
            yield _key(row[column]), row[judged]
    except csv.Error as exc:
        raise InputError(f"{path} is not readable as CSV ({exc}); {_NOT_OURS}") from None
