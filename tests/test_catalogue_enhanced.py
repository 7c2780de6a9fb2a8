"""The enhanced status code table (enhanced.toml) against the IANA registry.

The registry's codes are written out here, so the test cannot pass on an empty or partial
table; when the shared reference copy of the registry sits next to the repository, the table
is also compared with it, label by label.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from prober.explanation.catalogue import LANGUAGES, Catalogue, Category, StatusEntry, Who, load
from prober.explanation.explain import explain_text

# Every enumerated code of the registry, with the classes the registry lists for it
# (an empty tuple where it names none).
REGISTRY: dict[str, tuple[int, ...]] = {
    "X.0.0": (2, 4, 5),
    "X.1.0": (),
    "X.1.1": (4, 5),
    "X.1.2": (5,),
    "X.1.3": (5,),
    "X.1.4": (),
    "X.1.5": (2,),
    "X.1.6": (5,),
    "X.1.7": (),
    "X.1.8": (4, 5),
    "X.1.9": (),
    "X.1.10": (5,),
    "X.2.0": (),
    "X.2.1": (4, 5),
    "X.2.2": (4, 5),
    "X.2.3": (5,),
    "X.2.4": (4, 5),
    "X.3.0": (2, 4, 5),
    "X.3.1": (4,),
    "X.3.2": (4, 5),
    "X.3.3": (),
    "X.3.4": (5,),
    "X.3.5": (),
    "X.3.6": (2,),
    "X.4.0": (),
    "X.4.1": (4,),
    "X.4.2": (4,),
    "X.4.3": (4, 5),
    "X.4.4": (4, 5),
    "X.4.5": (4,),
    "X.4.6": (4,),
    "X.4.7": (),
    "X.5.0": (2, 4, 5),
    "X.5.1": (4, 5),
    "X.5.2": (5,),
    "X.5.3": (4,),
    "X.5.4": (4, 5),
    "X.5.5": (),
    "X.5.6": (4, 5),
    "X.6.0": (),
    "X.6.1": (5,),
    "X.6.2": (),
    "X.6.3": (5,),
    "X.6.4": (2, 5),
    "X.6.5": (4, 5),
    "X.6.6": (4, 5),
    "X.6.7": (5,),
    "X.6.8": (2, 5),
    "X.6.9": (5,),
    "X.6.10": (),
    "X.7.0": (2, 4, 5),
    "X.7.1": (4, 5),
    "X.7.2": (5,),
    "X.7.3": (5,),
    "X.7.4": (5,),
    "X.7.5": (),
    "X.7.6": (),
    "X.7.7": (2, 4, 5),
    "X.7.8": (5,),
    "X.7.9": (5,),
    "X.7.10": (5,),
    "X.7.11": (5,),
    "X.7.12": (4,),
    "X.7.13": (5,),
    "X.7.14": (5,),
    "X.7.15": (4, 5),
    "X.7.16": (4, 5),
    "X.7.17": (5,),
    "X.7.18": (5,),
    "X.7.19": (5,),
    "X.7.20": (5,),
    "X.7.21": (5,),
    "X.7.22": (5,),
    "X.7.23": (5,),
    "X.7.24": (4, 5),
    "X.7.25": (5,),
    "X.7.26": (5,),
    "X.7.27": (5,),
    "X.7.28": (),
    "X.7.29": (5,),
    "X.7.30": (5,),
}

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "enhanced_codes.json"

# Readings the verdict depends on: a wrong category here turns into a wrong answer.
KEY_READINGS: list[tuple[str, Category, Who | None]] = [
    ("X.1.1", Category.MAILBOX_UNKNOWN, Who.SENDER),
    ("X.1.2", Category.DOMAIN_UNKNOWN, Who.SENDER),
    ("X.1.3", Category.SYNTAX_ERROR, None),
    ("X.1.5", Category.ACCEPTED, Who.NOBODY),
    ("X.1.6", Category.MAILBOX_UNKNOWN, None),
    ("X.1.10", Category.DOMAIN_UNKNOWN, None),
    ("X.2.1", Category.MAILBOX_DISABLED, None),
    ("X.2.2", Category.MAILBOX_FULL, Who.RECIPIENT),
    ("X.2.3", Category.MESSAGE_TOO_LARGE, Who.SENDER),
    ("X.3.1", Category.SERVER_UNAVAILABLE, Who.RECIPIENT_ADMIN),
    ("X.3.4", Category.MESSAGE_TOO_LARGE, Who.SENDER),
    ("X.4.1", Category.REMOTE_UNREACHABLE, None),
    ("X.4.2", Category.REMOTE_UNREACHABLE, None),
    ("X.4.4", Category.REMOTE_UNREACHABLE, None),
    ("X.4.7", Category.DELIVERY_EXPIRED, None),
    ("X.4.6", Category.REMOTE_UNREACHABLE, None),
    ("X.5.3", Category.RATE_LIMITED, None),
    ("X.7.1", Category.OTHER, None),
    ("X.7.8", Category.AUTH_REQUIRED, None),
    ("X.7.10", Category.TLS_REQUIRED, None),
    ("X.7.11", Category.TLS_REQUIRED, None),
    ("X.7.20", Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    ("X.7.23", Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    ("X.7.24", Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    ("X.7.25", Category.BLOCKED_IP_REPUTATION, Who.SENDER_ADMIN),
    ("X.7.26", Category.POLICY_SPF_DKIM_DMARC, Who.SENDER_ADMIN),
    ("X.7.27", Category.OTHER, Who.SENDER_ADMIN),
    ("X.7.28", Category.RATE_LIMITED, None),
]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load()


def _reference() -> list[dict[str, Any]]:
    if not REFERENCE.is_file():
        pytest.skip(f"registry reference copy not found at {REFERENCE}")
    data: list[dict[str, Any]] = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return data


def test_table_is_the_whole_registry() -> None:
    # Guards the hard-coded list itself: X.0.0 to X.7.30, 81 codes.
    assert len(REGISTRY) == 81
    assert "X.0.0" in REGISTRY and "X.7.30" in REGISTRY


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_every_registry_code_is_present(catalogue: Catalogue, code: str) -> None:
    assert code in catalogue.statuses


def test_no_codes_outside_the_registry(catalogue: Catalogue) -> None:
    assert set(catalogue.statuses) == set(REGISTRY)


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_status_entry(catalogue: Catalogue, code: str) -> None:
    entry: StatusEntry = catalogue.statuses[code]
    assert re.fullmatch(r"X\.[0-7]\.[0-9]{1,2}", entry.code)
    assert set(entry.classes) <= {2, 4, 5}
    assert entry.classes == REGISTRY[code]
    assert entry.label.strip()
    assert entry.reference.strip()
    for lang in LANGUAGES:
        text = entry.reading.texts[lang]
        assert text.meaning and text.action, f"{code} {lang}"
    en, it = entry.reading.texts["en"], entry.reading.texts["it"]
    assert en.meaning != it.meaning
    assert en.action != it.action


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_lookup_by_class(catalogue: Catalogue, code: str) -> None:
    # The same entry answers for every class it is used with.
    _, subject, detail = code.split(".")
    for cls in REGISTRY[code] or (4, 5):
        found = catalogue.status(f"{cls}.{subject}.{detail}")
        assert found is not None and found.code == code


def test_class_digits(catalogue: Catalogue) -> None:
    assert set(catalogue.classes) == {2, 4, 5}
    for entry in catalogue.classes.values():
        assert entry.label.strip()
        assert entry.meanings["en"] != entry.meanings["it"]


def test_subject_digits(catalogue: Catalogue) -> None:
    assert set(catalogue.subjects) == set(range(8))
    for entry in catalogue.subjects.values():
        assert entry.label.strip()
        assert entry.meanings["en"] != entry.meanings["it"]


@pytest.mark.parametrize(("code", "category", "who"), KEY_READINGS)
def test_key_readings(catalogue: Catalogue, code: str, category: Category, who: Who | None) -> None:
    reading = catalogue.statuses[code].reading
    assert reading.category is category
    if who is not None:
        assert reading.who is who


def test_matches_reference_copy(catalogue: Catalogue) -> None:
    data = _reference()
    enumerated = {e["code"]: e for e in data if e["kind"] == "enumerated"}
    assert set(enumerated) == set(REGISTRY)
    for code, ref in enumerated.items():
        entry = catalogue.statuses[code]
        assert entry.label == ref["label"], code
        assert entry.reference == ref["reference"], code
        assert entry.classes == tuple(int(c) for c in ref["classes"] or ()), code
    heads = {e["code"]: e["label"] for e in data if e["kind"] in ("class", "subject")}
    for digit, head in catalogue.classes.items():
        assert head.label == heads[f"{digit}.XXX.YYY"]
    for digit, head in catalogue.subjects.items():
        assert head.label == heads[f"X.{digit}.YYY"]


# A success code's bare subject names what succeeded (Comcast closes with "221 2.3.0 …
# closing connection", swaks' captured session): no failure of the mail system. A
# specific detail beside a success code still says what it says (Kopano's LMTP agent
# answers "250 2.4.7 … Delivery time expired").
@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("221 2.3.0 mdpapp-ch2-1p.sys.comcast.net closing connection", Category.ACCEPTED),
        ("250 2.0.0 Ok: queued", Category.ACCEPTED),
        ("250 2.4.7 Delivery time expired", Category.DELIVERY_EXPIRED),
    ],
)
def test_a_success_codes_subject_is_no_failure(text: str, category: Category) -> None:
    assert explain_text(text).category is category
