"""A bounded fuzzing harness for the parsers that read outside input.

Each target gets arbitrary and near-valid input from hypothesis and must keep its
contract: the reply parser (byte stream → replies, or ReplySyntaxError; the same answer
however the stream is cut into reads), the bounce reader (any bytes → a Bounce), the
list reader (any file → entries, never an exception), the address parser (any text →
an Address whose SMTP path is safe on the wire, or AddressError), the resume reader
(any file → the results in it, or InputError with the file untouched) and the terminal
escaping (no unsafe character out; JSON decodes to the same value).

It runs in the ordinary test suite for a few seconds (the "ci" profile). For a longer
run: ``PROBER_FUZZ_EXAMPLES=20000 python -m pytest tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prober.address import parse_address
from prober.errors import AddressError, InputError
from prober.explanation.bounce import parse_bounce
from prober.output.listio import MAX_LINE, Source, load_done
from prober.output.terminal import is_unsafe, json_safe, safe, safe_block
from prober.smtp.connection import check_command
from prober.smtp.reply import MAX_LINE as REPLY_LINE
from prober.smtp.reply import MAX_LINES, Reply, ReplyParser, ReplySyntaxError

settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("PROBER_FUZZ_EXAMPLES", "120")),
    deadline=None,  # shared CI machines are slow; time is bounded by max_examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("PROBER_FUZZ_EXAMPLES") is None,  # reproducible in CI
)
CI = settings.get_profile("ci")

# -- near-valid input ----------------------------------------------------------------------

CODES = st.sampled_from([b"220", b"250", b"354", b"421", b"450", b"550", b"554", b"199",
                         b"600", b"25", b"2500", b"abc", "２５０".encode()])  # fmt: skip
SEPARATORS = st.sampled_from([b" ", b"-", b"", b"\t", b"--"])
TEXTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"2.1.5 Ok", b"5.1.1 <a@b>: User unknown", b"\x1b[2J", b"\xff\xfe",
                     "é ok".encode(), b"PIPELINING", b"SIZE \xc2\xb9\xc2\xb2"]),  # fmt: skip
)
ENDINGS = st.sampled_from([b"\r\n", b"\n", b"\r", b"", b"\r\r\n"])
LINES = st.builds(lambda c, s, t, e: c + s + t + e, CODES, SEPARATORS, TEXTS, ENDINGS)
STREAMS = st.one_of(
    st.lists(LINES, max_size=12).map(b"".join),
    st.binary(max_size=600),
    st.builds(lambda n: b"250-" + b"x" * n + b"\r\n", st.integers(0, REPLY_LINE + 10)),
    st.builds(lambda n: b"250-ok\r\n" * n + b"250 end\r\n", st.integers(0, MAX_LINES + 5)),
)


def _parse(chunks: list[bytes]) -> tuple[list[Reply], str | None]:
    parser = ReplyParser()
    replies: list[Reply] = []
    try:
        for chunk in chunks:
            replies += parser.feed(chunk)
    except ReplySyntaxError as exc:
        # Replies completed in the same read before the violation come with the error.
        return replies + list(exc.replies), exc.problem
    return replies, None


@CI
@given(STREAMS, st.data())
def test_reply_parser_same_answer_however_the_stream_is_cut(
    stream: bytes, data: st.DataObject
) -> None:
    whole = _parse([stream])
    bytewise = _parse([stream[i : i + 1] for i in range(len(stream))])
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=6)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert whole == bytewise == _parse(pieces)
    for reply in whole[0]:
        assert 200 <= reply.code <= 599
        assert 1 <= len(reply.lines) <= MAX_LINES
        assert all(len(line) <= REPLY_LINE for line in reply.lines)


# -- the bounce reader ---------------------------------------------------------------------

HEADERS = st.sampled_from([
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n",
    b"Content-Type: message/delivery-status\r\n", b"Subject: Undelivered Mail\r\n",
    b"From: MAILER-DAEMON@x.test\r\n", b"Content-Transfer-Encoding: base64\r\n",
    b"Content-Type: text/plain; charset=\"\xff\"\r\n",
])  # fmt: skip
BODIES = st.sampled_from([
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n"
    b"Final-Recipient: rfc822; a@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
    b"Diagnostic-Code: smtp; 550 5.1.1 no\r\n--b--\r\n",
    b"<a@x.test>: host mx said: 550 5.1.1 User unknown\r\n",
    b"Status: 9.9.9\r\nFinal-Recipient: \r\n", b"--b\r\n--b\r\n--b", b"=?utf-8?q?=FF?=",
    b"a@" * 200, b"Status: 5.\xff.1\r\n",
])  # fmt: skip
BOUNCES = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda h, b, x: b"".join(h) + b"\r\n" + b + x,
              st.lists(HEADERS, max_size=4), BODIES, st.binary(max_size=200)),
)  # fmt: skip


@CI
@given(BOUNCES, st.sampled_from(["en", "it"]))
def test_bounce_reader_explains_anything(data: bytes, lang: str) -> None:
    try:
        bounce = parse_bounce(data, lang)
    except InputError:
        assert not data.strip()  # only empty input is refused
        return
    json.dumps(bounce.to_dict())  # serialisable, whatever came in


# -- the list reader -----------------------------------------------------------------------

LIST_LINES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([b"alice@example.test", b"", b"  ", b"\xef\xbb\xbfa@b.test", b"\xff",
                     b"email,name", b'"a@b.test",x', b'"unclosed', b"a" * (MAX_LINE + 5)]),
)  # fmt: skip


@CI
@given(st.lists(LIST_LINES, max_size=20), st.sampled_from([b"\n", b"\r\n", b"\r"]),
       st.sampled_from(["list.txt", "list.csv"]))  # fmt: skip
def test_list_reader_reads_any_file(lines: list[bytes], newline: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(newline.join(lines))
        try:
            source = Source([], str(path), column="email" if name.endswith(".csv") else None)
        except InputError:
            assert name.endswith(".csv")  # a CSV without that column is refused at once
            return
        try:
            entries = list(source)
        finally:
            source.close()
    assert len(entries) <= max(1, len(newline.join(lines).splitlines()))
    for entry in entries:
        assert len(entry.text) <= MAX_LINE + 1
        assert entry.problem is None or entry.problem.endswith(".")


# -- the address parser --------------------------------------------------------------------

ADDRESSES = st.one_of(
    st.text(max_size=80),
    st.builds(lambda a, b: f"{a}@{b}", st.text(max_size=30), st.text(max_size=40)),
    st.builds(lambda a, b: f"{a}@{b}.test",
              st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
              st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True)),
)  # fmt: skip


@CI
@given(ADDRESSES)
def test_address_parser_refuses_or_gives_a_wire_safe_path(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError as exc:
        assert exc.reason.endswith(".")
        return
    check_command(f"RCPT TO:<{address.smtp_path}>", utf8=address.smtputf8)
    assert address.ascii_domain.isascii()
    assert len(address.smtp_path.encode("utf-8")) <= 254


# -- the resume reader ---------------------------------------------------------------------

RESULT = b'{"address":"a@x.test","verdict":"deliverable"}\n'


@CI
@given(st.lists(st.one_of(st.just(RESULT), st.binary(max_size=60)), max_size=6),
       st.binary(max_size=40), st.sampled_from(["jsonl", "csv"]))  # fmt: skip
def test_resume_reader_never_damages_a_file(parts: list[bytes], tail: bytes, fmt: str) -> None:
    content = b"".join(parts) + tail
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"out.{fmt}"
        path.write_bytes(content)
        try:
            load_done(str(path), fmt)
        except InputError:
            assert path.read_bytes() == content  # refused: not one byte changed
            return
        after = path.read_bytes()
    # Accepted: at most the partial last line was cut.
    assert content.startswith(after)
    assert len(after) >= content.rfind(b"\n") + 1


# -- terminal escaping ---------------------------------------------------------------------


@CI
@given(st.text())
def test_escaped_text_is_safe_and_json_exact(text: str) -> None:
    assert not any(is_unsafe(c) for c in safe(text))
    assert not any(is_unsafe(c) for c in safe_block(text) if c != "\n")
    document = json.dumps({"t": text}, ensure_ascii=False)
    escaped = json_safe(document)
    assert json.loads(escaped) == {"t": text}
    assert not any(is_unsafe(c) for c in escaped)
