"""The text-pattern rules of the catalogue, checked against real replies.

Every rule in ``prober/data/patterns.toml`` has examples in ``fixtures/replies/<id>/``,
copied from public sources named in each file's ``#`` lines. Each example must be
explained by that very rule when the whole list is tried in order (the first match
wins), which is what keeps specific rules above the general ones.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prober.explanation.catalogue import LANGUAGES, PatternEntry, load

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "replies"
PATTERNS = load().patterns

try:  # the real reading path, once it exists; a local one keeps this file useful alone
    from prober.explanation.explain import explain_text
except ImportError:  # pragma: no cover - depends on which modules are present
    explain_text = None  # type: ignore[assignment]

_CODE = re.compile(r"^\s*([1-5])\d\d(?:[ -]|$)")


def _reply(path: Path) -> str:
    """The example without its source comments."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith("#")).strip()


def _first_match(reply: str) -> str | None:
    """Which pattern id decides ``reply``: the catalogue's reading, or an in-order match."""
    if explain_text is not None:
        rule = explain_text(reply).rule
        return rule.removeprefix("pattern:") if rule.startswith("pattern:") else None
    match = _CODE.match(reply)
    first = int(match.group(1)) if match else None
    text = " ".join(line.strip() for line in reply.splitlines() if line.strip())
    for pattern in PATTERNS:
        if pattern.classes and first not in pattern.classes:
            continue
        if pattern.regex.search(text):
            return pattern.id
    return None


def _examples() -> list[tuple[str, Path]]:
    return [
        (pattern.id, path)
        for pattern in PATTERNS
        for path in sorted((FIXTURES / pattern.id).glob("*.txt"))
    ]


def test_there_are_many_rules() -> None:
    assert len(PATTERNS) >= 60


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_every_rule_has_examples(pattern: PatternEntry) -> None:
    folder = FIXTURES / pattern.id
    assert folder.is_dir(), f"no fixtures/replies/{pattern.id}/"
    examples = sorted(folder.glob("*.txt"))
    assert examples, f"fixtures/replies/{pattern.id}/ has no .txt example"
    for path in examples:
        raw = path.read_text(encoding="utf-8")
        assert raw.startswith("#"), f"{path.name} does not name its source"
        assert _reply(path), f"{path.name} has no reply text"


def test_no_fixture_folder_without_a_rule() -> None:
    # fixtures/replies/codes/ holds replies read by their codes (tests/test_evidence.py).
    ids = {pattern.id for pattern in PATTERNS} | {"codes"}
    strays = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and p.name not in ids)
    assert not strays


@pytest.mark.parametrize(("pattern_id", "path"), _examples(), ids=lambda v: str(v))
def test_example_selects_its_rule(pattern_id: str, path: Path) -> None:
    assert _first_match(_reply(path)) == pattern_id


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_both_languages_are_written(pattern: PatternEntry) -> None:
    for lang in LANGUAGES:
        text = pattern.reading.texts[lang]
        assert text.meaning.strip() and text.action.strip()
    assert pattern.reading.texts["en"].meaning != pattern.reading.texts["it"].meaning


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_failure_rules_ignore_positive_replies(pattern: PatternEntry) -> None:
    # Rules without classes read client-side texts that carry no reply code at all.
    if pattern.classes:
        assert set(pattern.classes) <= {4, 5}


@pytest.mark.parametrize(
    "reply",
    [
        "250 2.1.5 Ok",
        "250 2.1.0 Sender OK",
        "250 2.0.0 Ok: queued as 4Fk2Zx1Qz9z9sV",
        "220 mx.example.com ESMTP Postfix",
        "221 2.0.0 Bye",
        "354 End data with <CR><LF>.<CR><LF>",
        "500 5.5.1 Unknown command",
        "502 5.5.2 Error: command not recognized",
        "503 5.5.1 Error: need MAIL command",
        "501 5.5.4 Syntax: HELO hostname",
        "250 2.1.5 Ok, unknown user checks are off; not blocked using zen.spamhaus.org",
        "250-mx.google.com at your service\n250-SIZE 157286400\n250 STARTTLS",
    ],
)
def test_plain_replies_hit_no_rule(reply: str) -> None:
    assert _first_match(reply) is None
