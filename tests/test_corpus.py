"""The real-reply corpus (``fixtures/corpus/*.toml``): the data's own checks.

Each file holds the reply and bounce texts taken verbatim from one public source, with
the category a careful reader gives them. These tests keep the files well formed and
the corpus broad enough to measure with; they say nothing about how well the
classifier does (``benchmarks/explain_accuracy.py`` measures that).
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
FILES = sorted(CORPUS.glob("*.toml"))

# The corpus's label vocabulary: closed. It is the classifier's categories plus the two
# outcomes a bounce can report that a probe never meets first-hand.
CATEGORIES = frozenset(
    {
        "accepted",
        "mailbox_unknown",
        "mailbox_full",
        "mailbox_disabled",
        "domain_unknown",
        "relay_denied",
        "auth_required",
        "tls_required",
        "blocked_ip_reputation",
        "blocked_spam_content",
        "policy_spf_dkim_dmarc",
        "rate_limited",
        "greylisted",
        "message_too_large",
        "syntax_error",
        "server_unavailable",
        "other",
        "delivery_expired",
        "remote_unreachable",
    }
)
KINDS = frozenset(
    {
        "bounce-parser-corpus",
        "mta-source",
        "mta-docs",
        "provider-docs",
        "dnsbl",
        "issue-thread",
        "kb",
    }
)
STAGES = frozenset({"connect", "banner", "ehlo", "auth", "mail", "rcpt", "data", "unknown"})
SOURCE_KEYS = frozenset({"id", "kind", "where", "licence", "origins"})
REPLY_KEYS = frozenset({"text", "stage", "provider", "category", "permanent", "lang", "note"})

MIN_TEXTS = 600
MIN_SOURCES = 10
MIN_KINDS = 4
MAX_SHARE = 0.30  # no single source may dominate the corpus

_LEADING_CODE = re.compile(r"^([245])\d\d(?:[ -]|$)")
_ORIGIN = re.compile(r"github:[A-Za-z0-9][\w.-]*/[\w.-]+|web:[a-z0-9.-]+\.[a-z]{2,}")


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


DATA = {path.name: _load(path) for path in FILES}


def _replies() -> list[tuple[str, int, dict[str, Any]]]:
    return [
        (name, index, reply)
        for name, data in DATA.items()
        for index, reply in enumerate(data.get("reply", []))
    ]


REPLIES = _replies()


def test_the_corpus_is_large_and_varied_enough() -> None:
    kinds = {data["source"]["kind"] for data in DATA.values()}
    assert len(DATA) >= MIN_SOURCES, f"{len(DATA)} sources, at least {MIN_SOURCES} wanted"
    assert len(REPLIES) >= MIN_TEXTS, f"{len(REPLIES)} texts, at least {MIN_TEXTS} wanted"
    assert len(kinds) >= MIN_KINDS, f"sources of only {len(kinds)} kinds: {sorted(kinds)}"


def test_no_source_dominates() -> None:
    counts = Counter(name for name, _, _ in REPLIES)
    for name, count in counts.items():
        assert count <= MAX_SHARE * len(REPLIES), (
            f"{name} holds {count} of {len(REPLIES)} texts (over {MAX_SHARE:.0%})"
        )


@pytest.mark.parametrize("name", sorted(DATA))
def test_source_block_is_complete(name: str) -> None:
    data = DATA[name]
    assert set(data) <= {"source", "reply"}, f"{name}: unexpected tables {set(data)}"
    source = data.get("source")
    assert isinstance(source, dict), f"{name}: no [source] table"
    assert set(source) <= SOURCE_KEYS, f"{name}: unknown keys {set(source) - SOURCE_KEYS}"
    for key in ("id", "kind", "where"):
        value = source.get(key)
        assert isinstance(value, str) and value.strip(), f"{name}: [source].{key} missing"
    assert source["id"] == Path(name).stem, f"{name}: id {source['id']!r} is not the file name"
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", source["id"]), f"{name}: id not kebab-case"
    assert source["kind"] in KINDS, f"{name}: kind {source['kind']!r} not in {sorted(KINDS)}"
    assert len(source["where"]) >= 20, f"{name}: [source].where too vague to find it again"
    if "licence" in source:
        assert isinstance(source["licence"], str) and source["licence"].strip()
    # Where the texts come from, in the form the catalogue's pattern `sources` use, so
    # that a benchmark can leave out the patterns written from this source.
    origins = source.get("origins", [])
    assert isinstance(origins, list) and origins, f"{name}: [source].origins missing"
    for origin in origins:
        assert isinstance(origin, str) and _ORIGIN.fullmatch(origin), f"{name}: origin {origin!r}"
    assert len(set(origins)) == len(origins), f"{name}: an origin is listed twice"
    assert data.get("reply"), f"{name}: no [[reply]] entries"


@pytest.mark.parametrize(
    ("name", "index", "reply"), REPLIES, ids=[f"{n}#{i}" for n, i, _ in REPLIES]
)
def test_reply_is_well_formed(name: str, index: int, reply: dict[str, Any]) -> None:
    where = f"{name} reply #{index}"
    assert set(reply) <= REPLY_KEYS, f"{where}: unknown keys {set(reply) - REPLY_KEYS}"
    text = reply.get("text")
    assert isinstance(text, str) and text.strip(), f"{where}: empty text"
    assert text == text.strip(), f"{where}: text has leading or trailing white space"
    assert reply.get("category") in CATEGORIES, f"{where}: category {reply.get('category')!r}"
    if "stage" in reply:
        assert reply["stage"] in STAGES, f"{where}: stage {reply['stage']!r}"
    if "permanent" in reply:  # TOML has no null: a missing key means "not known"
        assert isinstance(reply["permanent"], bool), f"{where}: permanent must be true/false"
    lang = reply.get("lang")
    assert isinstance(lang, str) and re.fullmatch(r"[a-z]{2}", lang), f"{where}: lang {lang!r}"
    for key in ("provider", "note"):
        if key in reply:
            assert isinstance(reply[key], str) and reply[key].strip(), f"{where}: empty {key}"


@pytest.mark.parametrize(
    ("name", "index", "reply"), REPLIES, ids=[f"{n}#{i}" for n, i, _ in REPLIES]
)
def test_permanence_agrees_with_a_leading_reply_code(
    name: str, index: int, reply: dict[str, Any]
) -> None:
    match = _LEADING_CODE.match(reply["text"])
    if match is None or "permanent" not in reply:
        return
    digit = match.group(1)
    if digit == "5":
        assert reply["permanent"] is True, f"{name} reply #{index}: a 5xx reply is permanent"
    elif digit == "4":
        assert reply["permanent"] is False, f"{name} reply #{index}: a 4xx reply is temporary"
    else:
        assert reply["category"] == "accepted", f"{name} reply #{index}: 2xx is not a failure"


def test_no_text_appears_twice() -> None:
    seen: dict[str, str] = {}
    for name, index, reply in REPLIES:
        text = reply["text"]
        assert text not in seen, f"{name} reply #{index} repeats {seen[text]}: {text[:80]!r}"
        seen[text] = f"{name} reply #{index}"


def test_italian_replies_are_present() -> None:
    italian = [reply for _, _, reply in REPLIES if reply["lang"] == "it"]
    assert len(italian) >= 5, f"only {len(italian)} Italian-language replies"


SECOND = Path(__file__).resolve().parent.parent / "fixtures" / "second-reading"


def test_the_second_reading_names_corpus_texts() -> None:
    texts = {
        (data["source"]["id"], reply["text"]) for data in DATA.values() for reply in data["reply"]
    }
    labels = [item for path in sorted(SECOND.glob("*.toml")) for item in _load(path)["label"]]
    assert len(labels) >= 100, "the second reading is there to measure with"
    for item in labels:
        assert set(item) == {"source", "text", "category"}, item
        assert (item["source"], item["text"]) in texts, f"not in the corpus: {item['text'][:60]!r}"
        assert item["category"] in CATEGORIES, item["category"]
