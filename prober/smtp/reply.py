"""SMTP replies: the value type and an incremental, bounded parser (no I/O).

The parser is fed bytes as they arrive and yields complete replies, in the manner of
h11: it never reads a socket itself, so hostile input can be tested byte by byte. Limits
follow RFC 5321 §4.5.3.1 with generous headroom: a reply line longer than
``max_line`` or a reply of more than ``max_lines`` lines is an error, not a memory leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# RFC 5321 §4.5.3.1.5 sets 512 octets for a reply line; real servers exceed it a little
# (long Microsoft and Google policy texts), so allow 2 KiB before calling it hostile.
MAX_LINE = 2048
# EHLO replies list a few dozen extensions; a thousand lines is a server gone wrong.
MAX_LINES = 200

_CODE = re.compile(rb"[0-9]{3}")  # a reply code: three ASCII digits
_ENHANCED = re.compile(r"^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=\s|$)")
# The identifiers servers stamp on each reply (Gmail's "a1si5234567wrb.12 - gsmtp",
# queue ids, Microsoft's host names): long runs mixing letters and digits, which say
# nothing about what the reply means.
STAMPED_ID = re.compile(r"\b(?=(?:[A-Za-z]*[0-9]){2})(?=(?:[0-9]*[A-Za-z]){3})[A-Za-z0-9]{12,}\b")


# Marks a derived value of a Reply not yet computed (None is a legitimate value).
_UNSET: object = object()


@dataclass(frozen=True, slots=True)
class Reply:
    """One complete SMTP reply: its code and the text of each of its lines."""

    code: int
    lines: tuple[str, ...] = ("",)
    # Derived from code and lines, computed on first use and kept: list mode reads them
    # for every result that shows the reply, many times per reply. Not part of equality.
    _enhanced: object = field(default=_UNSET, init=False, repr=False, compare=False)
    _text: object = field(default=_UNSET, init=False, repr=False, compare=False)

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code at the start of the text, if any.

        RFC 3463 requires its class digit to match the reply's; one that does not is
        ignored rather than trusted.
        """
        known = self._enhanced
        if known is _UNSET:
            known = self._find_enhanced()
            object.__setattr__(self, "_enhanced", known)  # a cache of a pure function
        return known  # type: ignore[return-value]

    def _find_enhanced(self) -> str | None:
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        if match is None or match.group(1) != str(self.code)[0]:
            return None
        return f"{match.group(1)}.{int(match.group(2))}.{int(match.group(3))}"

    @property
    def text(self) -> str:
        """The human text, lines joined by spaces, without repeated enhanced codes."""
        known = self._text
        if known is _UNSET:
            known = self._join_text()
            object.__setattr__(self, "_text", known)  # a cache of a pure function
        return known  # type: ignore[return-value]

    def _join_text(self) -> str:
        enhanced = self.enhanced
        parts = []
        for line in self.lines:
            match = _ENHANCED.match(line)
            if enhanced is not None and match is not None:
                line = line[match.end() :].lstrip()
            parts.append(line.strip())
        return " ".join(p for p in parts if p)

    @property
    def first_digit(self) -> int:
        return self.code // 100

    def __str__(self) -> str:
        if len(self.lines) <= 1:
            return f"{self.code} {self.lines[0] if self.lines else ''}".rstrip()
        head = [f"{self.code}-{line}" for line in self.lines[:-1]]
        return "\n".join([*head, f"{self.code} {self.lines[-1]}".rstrip()])


class ReplySyntaxError(Exception):
    """The server sent something that is not an SMTP reply; ``problem`` says what."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        # Replies completed earlier in the same feed() call, before the violation: they
        # did arrive, and a caller may still judge them.
        self.replies: tuple[Reply, ...] = ()


class ReplyParser:
    """Turns a byte stream into replies.

    ``feed(data)`` returns the replies completed by ``data``; a violation raises
    :class:`ReplySyntaxError` with a sentence describing the server's fault. The limits
    hold while bytes stream in: an unterminated line is refused as soon as it passes
    ``max_line`` bytes, so at most ``max_line`` bytes are ever buffered, whatever the
    size of the chunks fed. After a violation the parser stays failed: a server that
    broke the protocol once is not read further.
    """

    def __init__(self, max_line: int = MAX_LINE, max_lines: int = MAX_LINES) -> None:
        self._max_line = max_line
        self._max_lines = max_lines
        self._buffer = bytearray()
        self._code: int | None = None
        self._lines: list[str] = []
        self._failed: ReplySyntaxError | None = None
        self.received = 0  # bytes fed so far, for "sent only N bytes" diagnostics

    @property
    def pending(self) -> bool:
        """True when part of a reply has been received but not all of it."""
        return bool(self._buffer) or bool(self._lines)

    @property
    def buffered(self) -> int:
        """Bytes held back waiting for the end of their line (never above ``max_line`` + 1)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Reply]:
        if self._failed is not None:
            raise self._failed
        replies: list[Reply] = []
        try:
            self._feed(data, replies)
        except ReplySyntaxError as exc:
            exc.replies = tuple(replies)
            self._failed = exc
            self._buffer.clear()
            self._lines = []
            raise
        return replies

    def _feed(self, data: bytes, replies: list[Reply]) -> None:
        self.received += len(data)
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end == -1:
                # One byte of slack for a CR whose LF has not arrived yet.
                if len(self._buffer) + len(data) - start > self._max_line + 1:
                    raise self._too_long(bytes(self._buffer[:16]) or data[start : start + 16])
                self._buffer += data[start:]
                return
            if len(self._buffer) + end - start > self._max_line + 1:
                raise self._too_long(bytes(self._buffer[:16]) or data[start : start + 16])
            raw = bytes(self._buffer) + data[start:end]
            self._buffer.clear()
            start = end + 1
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if len(raw) > self._max_line:
                raise self._too_long(raw[:16])
            reply = self._line(raw)
            if reply is not None:
                replies.append(reply)

    def _too_long(self, head: bytes) -> ReplySyntaxError:
        other = _other_protocol(head)
        if other is not None:
            return ReplySyntaxError(other)
        return ReplySyntaxError(
            f"the server sent a line longer than {self._max_line} bytes without ending it"
        )

    def _line(self, raw: bytes) -> Reply | None:
        head = raw[:3]
        if not _CODE.fullmatch(head) or raw[3:4] not in (b"", b" ", b"-"):
            other = _other_protocol(raw) if self._code is None else None
            if other is not None:
                raise ReplySyntaxError(other)
            raise ReplySyntaxError(
                "the server sent a line that is not an SMTP reply (no three-digit code): "
                + show_bytes(raw[:60])
            )
        code = int(head)
        if not 200 <= code <= 599:
            raise ReplySyntaxError(f"the server sent reply code {code}, outside 200-599")
        if self._code is not None and code != self._code:
            raise ReplySyntaxError(
                f"the server changed the reply code within one multi-line reply "
                f"({self._code} then {code})"
            )
        self._code = code
        self._lines.append(printable(raw[4:].decode("utf-8", "backslashreplace")))
        if len(self._lines) > self._max_lines:
            raise ReplySyntaxError(f"the server sent a reply of more than {self._max_lines} lines")
        if raw[3:4] == b"-":
            return None
        reply = Reply(code, tuple(self._lines))
        self._code = None
        self._lines = []
        return reply


# Characters that would act on a terminal or reorder the text shown around them: C0 and C1
# controls (ESC starts terminal escape sequences), DEL, and the bidirectional overrides
# and isolates. A reply is text from a stranger; it is shown, never obeyed.
_UNSAFE = re.compile(
    r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """``text`` with every control or direction-changing character written as an escape."""
    return _UNSAFE.sub(lambda m: ascii(m.group())[1:-1], text)


def show_bytes(data: bytes) -> str:
    """Bytes from a server, quoted for a sentence: ASCII as is, the rest as escapes."""
    return "'" + printable(data.decode("ascii", "backslashreplace")) + "'"


def _other_protocol(head: bytes) -> str | None:
    """A sentence naming the protocol ``head`` (the start of a line) belongs to, if known."""
    if head.startswith(b"HTTP/"):
        return "the server answered in HTTP, not SMTP: a web server is listening on this port"
    if head.startswith(b"SSH-"):
        return "the server greeted in SSH, not SMTP: an SSH server is listening on this port"
    if head[:1] in (b"\x15", b"\x16") and head[1:2] == b"\x03":
        return (
            "the server sent a TLS record instead of an SMTP greeting: it expects TLS from "
            "the first byte (implicit TLS, as on port 465), not STARTTLS"
        )
    if head.startswith((b"<!DOCTYPE", b"<html", b"<HTML")):
        return "the server sent an HTML page, not SMTP: a web server is listening on this port"
    sample = head[:60]
    controls = sum(1 for b in sample if b < 0x09 or 0x0D < b < 0x20 or b == 0x7F)
    try:
        sample.decode("utf-8")
        text = True
    except UnicodeDecodeError as exc:
        text = exc.start >= len(sample) - 3  # only a character cut off at the end
    if b"\x00" in sample or controls * 4 > len(sample) or not text:
        return f"the server sent binary data, not SMTP text: {show_bytes(sample[:24])}"
    return None


_PASTED_LINE = re.compile(r"^\s*([0-9]{3})([ -]|$)(.*)$")
_BARE_ENHANCED = re.compile(r"^\s*([245]\.[0-9]{1,3}\.[0-9]{1,3})\s*(.*)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Pasted:
    """What a person pasted: a code, an enhanced code, a reply, or free text."""

    code: int | None
    enhanced: str | None
    text: str


def parse_pasted(text: str) -> Pasted:
    """Read ``550``, ``5.1.1``, ``550 5.1.1 text`` or a multi-line reply copied from a log.

    Log prefixes (``host said:``, ``<<<``, timestamps) before the code are tolerated by
    looking for the code at the start of each line after trimming; text with no code at
    all is returned as text so that pattern rules can still read it.
    """
    stripped = _python_tuple(text.strip())
    bare = _BARE_ENHANCED.match(stripped)
    if bare is not None and not re.match(r"^[0-9]{3}", stripped):
        return Pasted(code=None, enhanced=_norm(bare.group(1)), text=bare.group(2).strip())
    lines: list[str] = []
    code: int | None = None
    for line in stripped.splitlines():
        line = _from_code(line) if code is None else line
        match = _PASTED_LINE.match(line)
        if match is not None and (code is None or int(match.group(1)) == code):
            code = int(match.group(1))
            lines.append(match.group(3).strip())
        elif line.strip():
            lines.append(line.strip())
    if code is None:
        return Pasted(code=None, enhanced=None, text=" ".join(lines))
    reply = Reply(code, tuple(lines) or ("",))
    return Pasted(code=code, enhanced=reply.enhanced, text=reply.text)


# RFC 5321 §4.2: the second digit of a reply code is 0 to 5 ("used: 487" is no reply).
_CODE_IN_LINE = re.compile(r"\b[2-5][0-5][0-9](?=[ -])")
# What a log or a bounce writes before the reply it quotes: punctuation ("said:", "<<<",
# "smtp;", "(550 …"), a timestamp, or a word that introduces it.
_BEFORE_CODE = re.compile(
    r"(?:[^\w\s]|[0-9]|\b(?:said|says|replied|reply|response|answer|error|status|code|smtp|esmtp))\s*$",
    re.IGNORECASE,
)
_ENHANCED_AFTER = re.compile(r"[ -][245]\.[0-9]{1,3}\.[0-9]{1,3}\b")
# A client library's complaint names the code it waited for before the one it got
# ("Expected response code 250 but got code "550"", "expected "250/251/252""): the
# expected codes are none of the server's.
_EXPECTED = re.compile(
    r"\bexpect(?:ed|ing)\b[\w ]{0,30}?[\"'(]?(?:[2-5][0-9]{2}[\"')]?\s*(?:/|,|\bor\b)?\s*[\"']?)*$",
    re.IGNORECASE,
)


# Python's smtplib reports a reply as a tuple, "(550, b'5.7.1 Blocked\\n5.7.1 more')", and
# users paste the exception as it prints: the code and the text, its lines joined by "\\n".
_PY_TUPLE = re.compile(
    r"\((?P<code>[2-5][0-5][0-9]),\s*b?(?P<quote>['\"])(?P<text>.*?)(?:(?P=quote)\s*[,)]|$)",
    re.DOTALL,
)


def _python_tuple(text: str) -> str:
    """The reply inside a pasted Python ``(code, b'text')`` tuple, as a log would show it."""
    match = _PY_TUPLE.search(text)
    if match is None:
        return text
    body = re.sub(r"\\r\\n|\\n", "\n", match.group("text"))
    return f"{text[: match.start()]}{match.group('code')} {body}{text[match.end() :]}"


_LOOKBACK = 160


def _from_code(line: str) -> str:
    """The line from its reply code on, past a log's prefix; the line itself when no code
    starts a reply there. A number inside the words ("limit of 200 exceeded") is no code:
    a code after other words needs a log's punctuation or a word that introduces a reply
    before it, or an enhanced code after it; a code a client says it expected is none."""
    blank = len(line) - len(line.lstrip())  # where the line's first word begins
    for match in _CODE_IN_LINE.finditer(line):
        start = match.start()
        # What introduces a code stands just before it: looking further back would make
        # a long pasted line cost the square of its length.
        near = line[max(0, start - _LOOKBACK) : start]
        if _EXPECTED.search(near):
            continue
        if start <= blank or _BEFORE_CODE.search(near) or _ENHANCED_AFTER.match(line, match.end()):
            return line[start:]
    return line


def _norm(enhanced: str) -> str:
    klass, subject, detail = enhanced.split(".")
    return f"{klass}.{int(subject)}.{int(detail)}"
