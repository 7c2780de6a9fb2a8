"""The basic reply-code part of the catalogue (``prober/data/replies.toml``).

Table-driven: each table says what the data must contain, so that a careless edit (a
dropped code, a positive category on a failure, an untranslated text) fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from prober.explanation.catalogue import Catalogue, Category, Reading, Stage, Who, load

# Every code the catalogue must explain: RFC 5321 and its extensions, the codes support
# articles quote (many non-standard), and the client-side 101/111. Kept here in full so
# the check never depends on a file that may be missing.
REQUIRED_CODES: tuple[int, ...] = (
    101, 111, 200, 211, 214, 220, 221, 235, 250, 251, 252, 253, 334, 354,
    420, 421, 422, 426, 430, 431, 432, 441, 442, 446, 447, 449, 450, 451, 452, 453, 454,
    455, 458, 459, 471,
    500, 501, 502, 503, 504, 510, 511, 512, 513, 521, 522, 523, 524, 525, 530, 533, 534,
    535, 538, 541, 542, 550, 551, 552, 553, 554, 555, 556, 571, 591,
)  # fmt: skip

# Codes no standard defines (or defines only as a registry association): they must say so.
NON_STANDARD: tuple[int, ...] = (
    101, 111, 200, 420, 422, 426, 430, 431, 441, 442, 446, 447, 449, 453, 471,
    510, 511, 512, 513, 522, 523, 524, 525, 533, 541, 542, 571, 591,
)  # fmt: skip

VENDORS: dict[int, str] = {
    420: "Novell GroupWise",
    431: "Microsoft Exchange",
    449: "Microsoft Exchange",
    522: "Sun/Oracle Messaging Server",
    542: "Symantec MessageLabs",
}

CLIENT_SIDE: tuple[int, ...] = (101, 111)

# (code, stage, category, who or None): readings that change with the stage.
STAGE_READINGS: tuple[tuple[int, Stage, Category, Who | None], ...] = (
    (220, Stage.BANNER, Category.ACCEPTED, Who.NOBODY),
    (220, Stage.STARTTLS, Category.ACCEPTED, Who.NOBODY),
    (221, Stage.QUIT, Category.ACCEPTED, Who.NOBODY),
    (250, Stage.MAIL, Category.ACCEPTED, Who.NOBODY),
    (250, Stage.RCPT, Category.ACCEPTED, Who.NOBODY),
    (251, Stage.RCPT, Category.ACCEPTED, Who.NOBODY),
    (252, Stage.RCPT, Category.ACCEPTED, Who.NOBODY),
    (354, Stage.DATA, Category.ACCEPTED, Who.NOBODY),
    (421, Stage.BANNER, Category.SERVER_UNAVAILABLE, None),
    (451, Stage.RCPT, Category.GREYLISTED, Who.NOBODY),
    (452, Stage.RCPT, Category.RATE_LIMITED, None),
    (452, Stage.MAIL, Category.MESSAGE_TOO_LARGE, Who.SENDER),
    (454, Stage.STARTTLS, Category.SERVER_UNAVAILABLE, None),
    (454, Stage.AUTH, Category.SERVER_UNAVAILABLE, None),
    (501, Stage.MAIL, Category.SYNTAX_ERROR, Who.SENDER),
    (501, Stage.RCPT, Category.SYNTAX_ERROR, Who.SENDER),
    (503, Stage.RCPT, Category.AUTH_REQUIRED, Who.SENDER),
    (504, Stage.AUTH, Category.AUTH_REQUIRED, Who.SENDER),
    (521, Stage.BANNER, Category.DOMAIN_UNKNOWN, None),
    (530, Stage.MAIL, Category.AUTH_REQUIRED, Who.SENDER),
    (530, Stage.RCPT, Category.AUTH_REQUIRED, Who.SENDER),
    (550, Stage.MAIL, Category.OTHER, Who.SENDER_ADMIN),
    (550, Stage.RCPT, Category.OTHER, Who.SENDER),
    (551, Stage.RCPT, Category.RELAY_DENIED, None),
    (552, Stage.MAIL, Category.MESSAGE_TOO_LARGE, Who.SENDER),
    (552, Stage.RCPT, Category.MAILBOX_FULL, Who.RECIPIENT),
    (553, Stage.MAIL, Category.OTHER, None),
    (553, Stage.RCPT, Category.OTHER, Who.SENDER),
    (554, Stage.BANNER, Category.BLOCKED_IP_REPUTATION, Who.SENDER_ADMIN),
    (554, Stage.MAIL, Category.OTHER, Who.SENDER_ADMIN),
    (554, Stage.DATA, Category.OTHER, None),
)

# At MAIL FROM these codes are about the sender, never the recipient: the text must say so.
SENDER_AT_MAIL: tuple[int, ...] = (501, 530, 550, 553, 554)

# (code, enhanced, stage, category, who or None)
PAIRS: tuple[tuple[int, str, Stage | None, Category, Who | None], ...] = (
    (250, "2.1.5", None, Category.ACCEPTED, Who.NOBODY),
    (421, "4.4.5", None, Category.SERVER_UNAVAILABLE, None),
    (421, "4.7.0", None, Category.RATE_LIMITED, Who.SENDER_ADMIN),
    (421, "4.7.28", None, Category.RATE_LIMITED, Who.SENDER_ADMIN),
    (432, "4.7.12", None, Category.AUTH_REQUIRED, Who.SENDER),
    (450, "4.2.1", None, Category.RATE_LIMITED, None),
    (450, "4.7.1", None, Category.GREYLISTED, None),
    (451, "4.7.1", None, Category.GREYLISTED, Who.NOBODY),
    (452, "4.2.2", None, Category.MAILBOX_FULL, Who.RECIPIENT),
    (452, "4.5.3", None, Category.RATE_LIMITED, None),
    (454, "4.7.0", None, Category.SERVER_UNAVAILABLE, None),
    (501, "5.1.3", None, Category.SYNTAX_ERROR, Who.SENDER),
    (523, "5.7.10", None, Category.TLS_REQUIRED, None),
    (530, "5.7.0", None, Category.AUTH_REQUIRED, Who.SENDER),
    (534, "5.7.9", None, Category.AUTH_REQUIRED, Who.SENDER),
    (535, "5.7.8", None, Category.AUTH_REQUIRED, Who.SENDER),
    (538, "5.7.11", None, Category.TLS_REQUIRED, Who.SENDER),
    (550, "5.1.0", None, Category.OTHER, Who.SENDER),
    (550, "5.1.0", Stage.MAIL, Category.OTHER, None),
    (550, "5.1.1", None, Category.MAILBOX_UNKNOWN, Who.SENDER),
    (550, "5.1.2", None, Category.DOMAIN_UNKNOWN, Who.SENDER),
    (550, "5.1.10", None, Category.DOMAIN_UNKNOWN, Who.SENDER),
    (550, "5.2.1", None, Category.MAILBOX_DISABLED, None),
    (550, "5.4.1", None, Category.MAILBOX_UNKNOWN, Who.SENDER),
    (550, "5.7.1", None, Category.OTHER, Who.SENDER_ADMIN),
    (550, "5.7.23", None, Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    (550, "5.7.25", None, Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    (550, "5.7.26", None, Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    (550, "5.7.27", None, Category.OTHER, Who.SENDER_ADMIN),
    (550, "5.7.606", None, Category.BLOCKED_IP_REPUTATION, Who.SENDER_ADMIN),
    (552, "5.2.2", None, Category.MAILBOX_FULL, Who.RECIPIENT),
    (552, "5.3.4", None, Category.MESSAGE_TOO_LARGE, Who.SENDER),
    (553, "5.1.3", None, Category.SYNTAX_ERROR, Who.SENDER),
    (554, "5.3.4", None, Category.MESSAGE_TOO_LARGE, Who.SENDER),
    (554, "5.4.14", None, Category.OTHER, None),
    (554, "5.7.1", None, Category.OTHER, Who.SENDER_ADMIN),
    (554, "5.7.1", Stage.DATA, Category.BLOCKED_SPAM_CONTENT, None),
    (556, "5.1.10", None, Category.DOMAIN_UNKNOWN, Who.SENDER),
)

# Enhanced codes used in pairs that the IANA registry does not list for that use: each
# pair must name the vendor whose servers send it.
VENDOR_ENHANCED: dict[str, str] = {
    "5.7.606": "Microsoft",
    "5.4.14": "Microsoft",
    "5.4.1": "Microsoft",
}

# Words that betray an English sentence left in an Italian text.
_ENGLISH = re.compile(r"\b(the|and|with|this|server is|mailbox is|should)\b")


def _reference_dir() -> Path:
    # CI checks the clone out next to ``shared/``: <clone>/../shared/reference.
    return Path(__file__).resolve().parents[1].parent / "shared" / "reference"


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return load()


def _all_readings(cat: Catalogue) -> list[tuple[str, int, Reading]]:
    out: list[tuple[str, int, Reading]] = []
    for code, entry in cat.replies.items():
        out.append((f"reply {code}", code, entry.reading))
        out.extend((f"reply {code} at {stage}", code, r) for stage, r in entry.at.items())
    out.extend((f"pair {p.code} {p.enhanced} {p.stage}", p.code, p.reading) for p in cat.pairs)
    return out


@pytest.mark.parametrize("code", REQUIRED_CODES)
def test_required_code_present(cat: Catalogue, code: int) -> None:
    assert code in cat.replies, f"reply code {code} is missing from replies.toml"


def test_every_reference_code_present(cat: Catalogue) -> None:
    path = _reference_dir() / "basic_codes.json"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    codes = {int(item["code"]) for item in json.loads(path.read_text(encoding="utf-8"))}
    assert codes, "reference list is empty"
    assert sorted(codes - set(cat.replies)) == []


def test_first_digit_matches_category(cat: Catalogue) -> None:
    wrong = []
    for where, code, reading in _all_readings(cat):
        positive = code // 100 in (2, 3)
        if positive != (reading.category is Category.ACCEPTED):
            wrong.append(f"{where}: {reading.category}")
        if positive and reading.who is not Who.NOBODY:
            wrong.append(f"{where}: a positive reply asks {reading.who} to act")
    assert wrong == []


@pytest.mark.parametrize("code", NON_STANDARD)
def test_non_standard_codes_say_so(cat: Catalogue, code: int) -> None:
    entry = cat.replies[code]
    assert entry.standard is False
    assert entry.source.strip(), "a non-standard code must say where it comes from"
    assert "RFC 5321 §" not in entry.source
    assert "non-standard" in entry.reading.texts["en"].meaning.lower()
    assert "non standard" in entry.reading.texts["it"].meaning.lower()


@pytest.mark.parametrize(("code", "vendor"), sorted(VENDORS.items()))
def test_vendor_codes_name_the_vendor(cat: Catalogue, code: int, vendor: str) -> None:
    entry = cat.replies[code]
    assert entry.standard is False
    assert entry.vendor == vendor


@pytest.mark.parametrize("code", CLIENT_SIDE)
def test_client_side_codes(cat: Catalogue, code: int) -> None:
    entry = cat.replies[code]
    assert entry.standard is False
    assert entry.source == "client-side"
    assert entry.reading.category is Category.SERVER_UNAVAILABLE
    assert "no server sent it" in entry.reading.texts["en"].meaning


def test_standard_codes_cite_a_standard(cat: Catalogue) -> None:
    for code, entry in cat.replies.items():
        if entry.standard:
            assert "RFC" in entry.source, f"reply {code}: a standard code must cite its RFC"
        if code not in NON_STANDARD:
            assert entry.standard, f"reply {code} is defined by an RFC"


def test_codes_with_two_standard_meanings_give_both(cat: Catalogue) -> None:
    assert "RFC 4954" in cat.replies[530].source and "RFC 3207" in cat.replies[530].source
    assert "STARTTLS" in cat.replies[530].reading.texts["en"].meaning
    assert "RFC 4954" in cat.replies[454].source and "RFC 3207" in cat.replies[454].source
    assert "RFC 1870" in cat.replies[552].source
    assert "RFC 1870" in cat.replies[552].reading.texts["en"].meaning
    # 432 is RFC 4954's "password transition"; articles also give it an Exchange reading.
    assert "RFC 4954" in cat.replies[432].source
    assert "Exchange" in cat.replies[432].reading.texts["en"].meaning


@pytest.mark.parametrize(
    ("code", "enhanced"), [(510, "5.1.0"), (511, "5.1.1"), (512, "5.1.2"), (513, "5.1.3")]
)
def test_shortcut_codes_name_their_enhanced_code(cat: Catalogue, code: int, enhanced: str) -> None:
    assert enhanced in cat.replies[code].reading.texts["en"].meaning


def test_bare_550_says_the_text_decides(cat: Catalogue) -> None:
    # A bare 550 is no evidence of a missing mailbox: the enhanced code and words decide.
    reading = cat.replies[550].reading
    assert reading.category is Category.OTHER
    assert "policy" in reading.texts["en"].meaning


@pytest.mark.parametrize(("code", "stage", "category", "who"), STAGE_READINGS)
def test_stage_readings(
    cat: Catalogue, code: int, stage: Stage, category: Category, who: Who | None
) -> None:
    reading = cat.replies[code].at.get(stage)
    assert reading is not None, f"reply {code} has no reading at {stage}"
    assert reading.category is category
    if who is not None:
        assert reading.who is who


@pytest.mark.parametrize("code", SENDER_AT_MAIL)
def test_failures_at_mail_are_about_the_sender(cat: Catalogue, code: int) -> None:
    reading = cat.replies[code].at[Stage.MAIL]
    assert "sender" in reading.texts["en"].meaning.lower()
    assert "mittente" in reading.texts["it"].meaning.lower()
    assert reading.category not in (Category.MAILBOX_UNKNOWN, Category.MAILBOX_FULL)


@pytest.mark.parametrize(("code", "enhanced", "stage", "category", "who"), PAIRS)
def test_pairs(
    cat: Catalogue,
    code: int,
    enhanced: str,
    stage: Stage | None,
    category: Category,
    who: Who | None,
) -> None:
    matches = [p for p in cat.pairs if (p.code, p.enhanced, p.stage) == (code, enhanced, stage)]
    assert len(matches) == 1, f"pair {code} {enhanced} at {stage}: {len(matches)} entries"
    assert matches[0].reading.category is category
    if who is not None:
        assert matches[0].reading.who is who


def test_pairs_are_many_unique_and_consistent(cat: Catalogue) -> None:
    assert len(cat.pairs) >= 40
    keys = [(p.code, p.enhanced, p.stage) for p in cat.pairs]
    assert len(keys) == len(set(keys))
    for p in cat.pairs:
        assert str(p.code)[0] == p.enhanced[0], f"pair {p.code} {p.enhanced}: class digits differ"


def test_pair_enhanced_codes_are_registered_or_vendor(cat: Catalogue) -> None:
    for p in cat.pairs:
        vendor = VENDOR_ENHANCED.get(p.enhanced)
        if vendor is not None:
            assert vendor in p.reading.texts["en"].meaning
            assert vendor in p.reading.texts["it"].meaning
    path = _reference_dir() / "enhanced_codes.json"
    if not path.is_file():
        pytest.skip(f"{path} not available")
    registry = {
        item["code"]
        for item in json.loads(path.read_text(encoding="utf-8"))
        if item.get("kind") not in ("class", "subject")
    }
    unknown = [
        f"{p.code} {p.enhanced}"
        for p in cat.pairs
        if "X." + p.enhanced.split(".", 1)[1] not in registry and p.enhanced not in VENDOR_ENHANCED
    ]
    assert unknown == []


def test_texts_are_translated(cat: Catalogue) -> None:
    problems = []
    for where, _, reading in _all_readings(cat):
        en, it = reading.texts["en"], reading.texts["it"]
        if en.meaning == it.meaning or en.action == it.action:
            problems.append(f"{where}: Italian text equals the English one")
        for field in (it.meaning, it.action):
            # Quoted official names and server texts («...») stay in English on purpose.
            if _ENGLISH.search(re.sub(r"«[^»]*»", "", field)):
                problems.append(f"{where}: Italian text looks English: {field[:60]}")
            if "'" in field:
                problems.append(f"{where}: Italian text uses a straight apostrophe")
    assert problems == []


def test_meanings_are_short(cat: Catalogue) -> None:
    for where, _, reading in _all_readings(cat):
        for lang in ("en", "it"):
            text = reading.texts[lang].meaning
            assert len(text) <= 600, f"{where} ({lang}): meaning is {len(text)} characters"
