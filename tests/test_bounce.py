"""Bounce messages: real-world samples, pasted replies and hostile input.

The samples in ``fixtures/bounces`` come from public bounce corpora (each ``.eml`` has a
``.source.txt`` naming its repository and path). Expectations name only what a bounce
states (address, status) and the category of well-known failures, never the wording of
the catalogue.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prober.errors import InputError
from prober.explanation.bounce import Bounce, parse_bounce
from prober.explanation.catalogue import Category

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bounces"


@dataclass(frozen=True)
class Want:
    address: str
    status: str | None
    category: Category | None  # None: the failure is not one with a settled category
    permanent: bool | None
    code: int | None = None
    enhanced: str | None = None


CASES: dict[str, tuple[str, str | None, list[Want]]] = {
    # file: (kind, mta, recipients)
    "postfix-dsn-gmail-multiline.eml": (
        "dsn",
        "postfix",
        [Want("someone@gmail.com", "5.1.1", Category.MAILBOX_UNKNOWN, True, 550, "5.1.1")],
    ),
    "postfix-dsn-yahoo-crlf.eml": (
        "dsn",
        "postfix",
        [Want("kijitora@aol.example.jp", "5.7.9", None, True, 554, "5.7.9")],
    ),
    "gmail-dsn-user-unknown.eml": (
        "dsn",
        "gmail",
        [
            Want(
                "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp",
                "5.0.0",
                Category.MAILBOX_UNKNOWN,
                True,
                550,
            )
        ],
    ),
    "office365-dsn.eml": (
        "dsn",
        "exchange",
        [
            Want(
                "otsu-sakaba-hunter-neko-nyaaaaaaan@ezweb.ne.jp",
                "5.1.351",
                None,
                True,
                550,
                "5.1.351",
            )
        ],
    ),
    "exchange2007-dsn.eml": (
        "dsn",
        "exchange",
        [Want("neko-nyaan@example.jp", "5.7.1", None, True, 550, "5.7.1")],
    ),
    "hotmail-dsn-mailbox-full-cr.eml": (
        "dsn",
        None,
        [Want("kijitora@example.jp", "5.2.2", Category.MAILBOX_FULL, True, 550, "5.2.2")],
    ),
    "aol-dsn-mailbox-full.eml": (
        "dsn",
        None,
        [Want("user@aol.com", "5.2.2", Category.MAILBOX_FULL, True, 552, "5.2.2")],
    ),
    "sendmail-dsn-two-recipients.eml": (
        "dsn",
        "sendmail",
        [
            Want("userunknown@example.org", "5.1.1", Category.MAILBOX_UNKNOWN, True, 550),
            Want("filtered@example.com", "5.2.1", None, True, 550, "5.2.1"),
        ],
    ),
    "exim-dsn-local-delivery.eml": (
        "dsn",
        "exim",
        [Want("/mail/spool/q002.kijitora.gol.com/gol.com/22r/cat/n2.nyaan", "5.0.0", None, True)],
    ),
    "dsn-no-diagnostic-gmail-spam.eml": (
        "dsn",
        "exim",
        [Want("gmail-user@gmail.com", "5.0.0", Category.BLOCKED_SPAM_CONTENT, True, 550, "5.7.1")],
    ),
    "exim-text-two-recipients.eml": (
        "text",
        "exim",
        [
            Want("kijitora@example.jp", None, Category.MAILBOX_UNKNOWN, True, 550, "5.1.1"),
            Want("sabatora@example.jp", None, None, True, 550, "5.2.1"),
        ],
    ),
    "exim-text-icloud.eml": (
        "text",
        "exim",
        [Want("kijitora@icloud.example.com", None, Category.MAILBOX_UNKNOWN, True, 550, "5.1.1")],
    ),
    "qmail-text.eml": (
        "text",
        "qmail",
        [Want("kijitora@example.ne.jp", "5.5.0", None, True, 550)],
    ),
    "sendmail-text.eml": (
        "text",
        "sendmail",
        [Want("foo@rbd.spb.ru", None, Category.MAILBOX_UNKNOWN, True, 550, "5.1.1")],
    ),
    "sendmail-v5-transcript.eml": (
        "text",
        "sendmail",
        [Want("kijitora@neko.example.org", None, None, True, 554)],
    ),
    "gmail-text-legacy.eml": (
        "text",
        "gmail",
        [Want("awfawfawfawfawfaw@someserverhere.com", None, None, True, 550, "5.1.0")],
    ),
    "gmail-text-legacy-qp.eml": (
        "text",
        "gmail",
        [
            Want(
                "aougoueioaldljgoiuiorghladkgke@example.fr",
                None,
                Category.MAILBOX_UNKNOWN,
                True,
                550,
                "5.1.1",
            )
        ],
    ),
}


def test_every_fixture_is_covered_and_sourced() -> None:
    files = sorted(p.name for p in FIXTURES.glob("*.eml"))
    assert len(files) >= 10
    assert files == sorted(CASES)
    for name in files:
        source = FIXTURES / name.replace(".eml", ".source.txt")
        text = source.read_text(encoding="utf-8")
        assert "github.com/" in text and "Path:" in text, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture(name: str) -> None:
    kind, mta, wants = CASES[name]
    bounce = parse_bounce((FIXTURES / name).read_bytes())
    assert bounce.kind == kind
    assert bounce.mta == mta
    assert [r.address for r in bounce.recipients] == [w.address for w in wants]
    for got, want in zip(bounce.recipients, wants, strict=True):
        assert got.status == want.status, got.address
        assert got.explanation.permanent is want.permanent, got.address
        if want.category is not None:
            assert got.explanation.category is want.category, got.address
        if want.code is not None:
            assert got.explanation.code == want.code, got.address
        if want.enhanced is not None:
            assert got.explanation.enhanced_code == want.enhanced, got.address


def test_dsn_fields_are_read() -> None:
    bounce = parse_bounce((FIXTURES / "postfix-dsn-gmail-multiline.eml").read_bytes())
    assert bounce.reporting_mta == "smtp.webfaction.com"
    (rcpt,) = bounce.recipients
    assert rcpt.action == "failed"
    assert rcpt.remote_mta == "gmail-smtp-in.l.google.com"
    # The folded Diagnostic-Code is one line, and the four reply lines read as one reply.
    assert rcpt.diagnostic is not None
    assert "\n" not in rcpt.diagnostic
    assert rcpt.diagnostic.startswith("smtp; 550-5.1.1 The email account")
    assert rcpt.diagnostic.endswith("- gsmtp")
    text = rcpt.explanation.text
    assert "550-" not in text and "5.1.1" not in text
    assert "double-checking" in text and "gsmtp" in text


def test_remote_mta_comment_is_dropped() -> None:
    bounce = parse_bounce((FIXTURES / "gmail-dsn-user-unknown.eml").read_bytes())
    assert bounce.recipients[0].remote_mta == "lsean.ezweb.ne.jp"


def test_missing_diagnostic_is_taken_from_the_text_part() -> None:
    bounce = parse_bounce((FIXTURES / "dsn-no-diagnostic-gmail-spam.eml").read_bytes())
    (rcpt,) = bounce.recipients
    assert rcpt.diagnostic is not None and rcpt.diagnostic.startswith("550-5.7.1")


def test_text_bounce_reads_host_and_stage() -> None:
    bounce = parse_bounce((FIXTURES / "exim-text-two-recipients.eml").read_bytes())
    assert [r.remote_mta for r in bounce.recipients] == ["mx.example.jp", "mx.example.jp"]
    assert bounce.recipients[0].diagnostic == "550 5.1.1 <kijitora@example.jp>... User Unknown"


def test_returned_message_is_not_read_as_the_report() -> None:
    # The copy of the original names its own To: address; only the failed one counts.
    bounce = parse_bounce((FIXTURES / "qmail-text.eml").read_bytes())
    assert [r.address for r in bounce.recipients] == ["kijitora@example.ne.jp"]


def test_to_dict_flattens_the_explanation() -> None:
    bounce = parse_bounce((FIXTURES / "aol-dsn-mailbox-full.eml").read_bytes())
    data = bounce.to_dict()
    assert data["kind"] == "dsn"
    assert data["reporting_mta"] == "mtain-db01.r1000.mx.aol.com"
    (rcpt,) = data["recipients"]
    assert rcpt["address"] == "user@aol.com"
    assert rcpt["explanation"]["category"] == "mailbox_full"
    assert rcpt["explanation"]["permanent"] is True
    assert isinstance(rcpt["explanation"]["who"], str)


def test_italian() -> None:
    en = parse_bounce((FIXTURES / "sendmail-text.eml").read_bytes())
    it = parse_bounce((FIXTURES / "sendmail-text.eml").read_bytes(), lang="it")
    assert it.recipients[0].explanation.lang == "it"
    assert it.recipients[0].explanation.category is en.recipients[0].explanation.category


# --- shapes without a known server style ---------------------------------------------------


def test_plain_text_fallback() -> None:
    data = (
        b"From: postmaster@mail.example.net\r\n"
        b"Subject: Undeliverable mail\r\n"
        b"\r\n"
        b"Your message to <bob@example.com> could not be delivered.\r\n"
        b"The server answered:\r\n"
        b"  550 5.1.1 No such user here\r\n"
    )
    bounce = parse_bounce(data)
    assert bounce.kind == "text"
    assert bounce.mta is None
    (rcpt,) = bounce.recipients
    assert rcpt.address == "bob@example.com"
    assert rcpt.explanation.enhanced_code == "5.1.1"
    assert rcpt.explanation.category is Category.MAILBOX_UNKNOWN


def test_fallback_uses_x_failed_recipients() -> None:
    data = (
        b"From: postmaster@mail.example.net\n"
        b"X-Failed-Recipients: carol@example.org\n"
        b"Subject: failure\n\n"
        b"Delivery failed permanently.\n"
        b"452 4.2.2 Mailbox over quota\n"
    )
    (rcpt,) = parse_bounce(data).recipients
    assert rcpt.address == "carol@example.org"
    assert rcpt.explanation.permanent is False


def test_delivery_status_given_as_text() -> None:
    data = (
        b"Reporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; dave@example.com\n"
        b"Action: failed\n"
        b"Status: 5.2.2\n"
        b"Diagnostic-Code: smtp; 552 5.2.2 Mailbox full\n"
    )
    bounce = parse_bounce(data)
    assert bounce.kind == "dsn"
    assert bounce.reporting_mta == "mx.example.net"
    (rcpt,) = bounce.recipients
    assert (rcpt.address, rcpt.status) == ("dave@example.com", "5.2.2")
    assert rcpt.explanation.category is Category.MAILBOX_FULL


def test_delivery_status_inside_a_forwarded_text_body() -> None:
    data = (
        b"From: me@example.org\nSubject: Fwd: bounce\n\n"
        b"---------- Forwarded message ---------\n"
        b"Final-Recipient: rfc822; erin@example.com\n"
        b"Action: failed\n"
        b"Status: 5.1.1\n"
    )
    bounce = parse_bounce(data)
    assert bounce.kind == "dsn"
    assert [r.address for r in bounce.recipients] == ["erin@example.com"]


@pytest.mark.parametrize(
    ("pasted", "address", "category"),
    [
        (
            b"550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown",
            "bob@example.com",
            Category.MAILBOX_UNKNOWN,
        ),
        (b"552 5.2.2 Mailbox full", "", Category.MAILBOX_FULL),
        (
            b"Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>... User unknown",
            "bob@example.com",
            Category.MAILBOX_UNKNOWN,
        ),
    ],
)
def test_pasted_reply(pasted: bytes, address: str, category: Category) -> None:
    bounce = parse_bounce(pasted)
    assert bounce.kind == "reply"
    (rcpt,) = bounce.recipients
    assert rcpt.address == address
    assert rcpt.explanation.category is category
    assert rcpt.explanation.permanent is True


def test_pasted_multi_line_reply() -> None:
    pasted = (
        b"550-5.1.1 The email account that you tried to reach does not exist.\n"
        b"550-5.1.1 Please try double-checking the recipient's email address.\n"
        b"550 5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp\n"
    )
    (rcpt,) = parse_bounce(pasted).recipients
    assert rcpt.explanation.code == 550
    assert rcpt.explanation.enhanced_code == "5.1.1"
    assert rcpt.explanation.category is Category.MAILBOX_UNKNOWN


# --- hostile input -----------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [b"", b"   ", b"\r\n\r\n", b"\t\n"])
def test_empty_input_is_refused(empty: bytes) -> None:
    with pytest.raises(InputError, match="empty"):
        parse_bounce(empty)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\xfe garbage \x01\x02 nothing to see",
        b"lorem ipsum dolor sit amet",
        b"Subject: hello\n\nJust a normal note, nothing bounced.\n",
        b"Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status"
        b"\n\n\xff\xfe\n--x",
        b"Content-Type: multipart/mixed; boundary=a\n\n" + b"--a\nContent-Type: multipart/mixed;"
        b" boundary=a\n\n" * 2000,
        b"From: x\n" + b"X: " + b"a" * 200_000 + b"\n\n" + b"<" * 100_000,
    ],
)
def test_garbage_gives_no_recipients(garbage: bytes) -> None:
    bounce = parse_bounce(garbage)
    assert isinstance(bounce, Bounce)
    assert bounce.recipients == ()


def test_non_utf8_bytes_are_tolerated() -> None:
    data = (FIXTURES / "sendmail-text.eml").read_bytes().replace(b"User unknown)", b"\xe9\xff)")
    bounce = parse_bounce(data)
    assert [r.address for r in bounce.recipients] == ["foo@rbd.spb.ru"]


def test_large_random_blob_returns() -> None:
    blob = random.Random(20240601).randbytes(5 * 1024 * 1024)
    assert isinstance(parse_bounce(blob), Bounce)


def test_large_header_like_blob_returns() -> None:
    blob = b"Subject: x\n\n" + os.urandom(5 * 1024 * 1024)
    assert isinstance(parse_bounce(blob), Bounce)


def test_oversized_input_is_cut() -> None:
    data = (FIXTURES / "exim-text-two-recipients.eml").read_bytes()
    bounce = parse_bounce(data + b"x" * (12 * 1024 * 1024))
    assert len(bounce.recipients) == 2


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_raise_anything_but_input_error(data: bytes) -> None:
    try:
        bounce = parse_bounce(data)
    except InputError:
        assert not data.strip()
    else:
        assert isinstance(bounce, Bounce)
        bounce.to_dict()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(CASES)),
    st.integers(min_value=0, max_value=4000),
    st.binary(max_size=64),
)
def test_damaged_fixtures_never_raise(name: str, at: int, junk: bytes) -> None:
    data = (FIXTURES / name).read_bytes()
    damaged = data[:at] + junk + data[at + len(junk) :]
    if damaged.strip():
        parse_bounce(damaged).to_dict()


def test_a_code_quoted_inside_the_text_stays_in_the_sentence() -> None:
    bounce = parse_bounce((FIXTURES / "qmail-text.eml").read_bytes())
    (rcpt,) = bounce.recipients
    assert "192.0.2.32 said 550 for RCPT TO response" in rcpt.explanation.text
