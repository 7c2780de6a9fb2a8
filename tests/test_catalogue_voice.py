"""The Italian texts of the catalogue and of the diagnose findings speak with one voice.

Instructions use the impersonal infinitive ("Controllare…", "Riprovare più tardi…") and
never address the reader as "tu" or "voi"; sentences naming who acts ("Il mittente
verifica…") are fine. Elision apostrophes are typographic (’) everywhere, as in
``replies.toml``. The lists below hold the forms that were actually replaced, so that a
new text written in the old voice fails here without flagging ordinary third-person verbs.

Every label (the short name of a code) has its Italian form, with no English word in it
but protocol names and the loanwords Italian technical prose uses.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prober.diagnose.domain import findings_catalogue
from prober.errors import CatalogueError
from prober.explanation.catalogue import Labelled, Reading, _load_enhanced, _load_replies, load
from tests.test_italian import ENGLISH

DATA = Path(__file__).resolve().parents[1] / "prober" / "data"

# Possessives addressed to the reader: never needed in a neutral text.
_POSSESSIVES = re.compile(r"\b(tuo|tua|tuoi|tue|vostro|vostra|vostri|vostre)\b", re.IGNORECASE)

# Second-person verb forms the catalogue used, kept to those that are unambiguous
# anywhere in a sentence: not also a third person ("verifica"), a participle ("inviate",
# "controllate") or a noun ("leggi", "sei").
_SECOND_PERSON = re.compile(
    r"\b("
    # voi
    r"riprovate|leggete|chiedete|rilanciate|concedete|vedete|correggete|aprite|ripetete"
    r"|fateli|voi"
    # tu
    r"|chiedi|chiedigli|togli|toglilo|smetti|dividi|dividili|comprimi|comprimili|correggi"
    r"|distribuisci|riduci|scrivi|segui|rivedi|iscriviti|aggiungilo|fai|capisci|ripetila"
    r"|vedi|puoi|stai|volevi|gestisci|ti autentichi|se invii|(?:se|non) sei|non te"
    r"|non ti|ti ha|per te"
    r")\b",
    re.IGNORECASE,
)

# Imperatives that elsewhere read as a third person ("il server controlla…") or a
# participle ("caselle controllate"): rejected only where an instruction starts, at the
# start of a text or after sentence or clause punctuation. The "tu" forms must be
# capitalised there, since a colon may introduce a third-person clause (": usa un
# resolver…").
_TU_IMPERATIVES = (
    "Controlla|Verifica|Riprova|Usa|Invia|Contatta|Cerca|Aspetta|Guarda|Pubblica|Segnala"
    "|Inoltra|Continua|Configura|Consulta|Rallenta|Lascia|Avvisa|Abilita|Aggiungi|Apri"
    "|Attendi|Elimina|Ferma|Autenticati|Fai"
)
_VOI_IMPERATIVES = (
    "controllate|verificate|contattate|segnalate|inviate|usate|provate|eseguite|cercate|interrogate"
    "|impostate|pubblicate|trovate|fermate"
)
_INSTRUCTION_START = re.compile(
    rf"(?:^|[.;:!?]\s+)(?:{_TU_IMPERATIVES})\b"
    # A "voi" form also opens the main clause after a conditional ("Se persiste, riprovate").
    rf"|(?:^|[.;:!?,]\s+|\b(?:e|o|oppure|poi|frattempo)\s+)(?i:{_VOI_IMPERATIVES})\b"
)


def _reading_texts(where: str, reading: Reading) -> Iterator[tuple[str, str]]:
    it = reading.texts["it"]
    yield f"{where} meaning", it.meaning
    yield f"{where} action", it.action


def _labels() -> Iterator[tuple[str, Labelled]]:
    """Every entry of the catalogue that has a short name."""
    cat = load()
    for code, entry in cat.replies.items():
        yield f"reply {code}", entry
    for digit, head in cat.classes.items():
        yield f"class {digit}", head
    for digit, head in cat.subjects.items():
        yield f"subject {digit}", head
    for enhanced, status in cat.statuses.items():
        yield f"status {enhanced}", status


def _catalogue_texts() -> Iterator[tuple[str, str]]:
    cat = load()
    for where, labelled in _labels():
        yield f"{where} label", labelled.label_in("it")
    for code, entry in cat.replies.items():
        yield from _reading_texts(f"reply {code}", entry.reading)
        for stage, reading in entry.at.items():
            yield from _reading_texts(f"reply {code} at {stage}", reading)
    for pair in cat.pairs:
        yield from _reading_texts(f"pair {pair.code} {pair.enhanced} {pair.stage}", pair.reading)
    for digit, head in cat.classes.items():
        yield f"class {digit}", head.meanings["it"]
    for digit, head in cat.subjects.items():
        yield f"subject {digit}", head.meanings["it"]
    for enhanced, status in cat.statuses.items():
        yield from _reading_texts(f"status {enhanced}", status.reading)
    for pattern in cat.patterns:
        yield from _reading_texts(f"pattern {pattern.id}", pattern.reading)
    for family in cat.families:
        yield from _reading_texts(f"family {family.id}", family.reading)
    for name, reading in cat.events.items():
        yield from _reading_texts(f"event {name}", reading)


def _italian_leaves(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string under an ``it`` key (or an ``it.*`` dotted key) of a TOML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "it":
                yield from _strings(value, f"{where}.it")
            else:
                yield from _italian_leaves(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _italian_leaves(item, f"{where}[{i}]")


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}")


def _plain_texts() -> Iterator[tuple[str, str]]:
    # findings.toml is read raw, not through prober.diagnose.domain, so that every ``it`` string
    # is checked even if the loader someday ignores a key.
    for name in ("digits.toml", "verdicts.toml", "findings.toml"):
        with (DATA / name).open("rb") as fh:
            yield from _italian_leaves(tomllib.load(fh), name)


def _all_texts() -> list[tuple[str, str]]:
    return [*_catalogue_texts(), *_plain_texts()]


def test_texts_are_found() -> None:
    texts = _all_texts()
    # A broken walk would make every other check pass vacuously.
    assert len(texts) > 700
    places = {where.split(" ", 1)[0].split(".", 1)[0] for where, _ in texts}
    assert {"reply", "pair", "status", "pattern", "event", "digits", "verdicts"} <= places
    findings = [where for where, _ in texts if where.startswith("findings.toml")]
    # Two texts (meaning, action) for every finding the loader knows.
    assert len(findings) == 2 * len(findings_catalogue())


@pytest.mark.parametrize(
    ("check", "pattern"),
    [
        ("possessive addressed to the reader", _POSSESSIVES),
        ("second-person verb", _SECOND_PERSON),
        ("imperative at the start of an instruction", _INSTRUCTION_START),
    ],
)
def test_no_second_person(check: str, pattern: re.Pattern[str]) -> None:
    found = []
    for where, text in _all_texts():
        if pattern is _INSTRUCTION_START and where.endswith(" label"):
            continue  # a label is a name, not an instruction: "Verifica SPF non superata"
        # Quoted server texts and official names («…») are not ours to reword.
        match = pattern.search(re.sub(r"«[^»]*»", "", text))
        if match:
            found.append(f"{where}: {check} {match.group(0).strip()!r}")
    assert found == []


def test_typographic_apostrophes() -> None:
    straight = [f"{where}: {text[:60]}" for where, text in _all_texts() if "'" in text]
    assert straight == []


@pytest.mark.parametrize(
    "sample",
    [
        "Controlla che l’indirizzo sia giusto.",
        "Riprovate più tardi.",
        "Il tuo IP di invio è in lista.",
        "Se persiste, verificate la reputazione del vostro IP.",
        "Nessuna azione richiesta; verificate il resolver.",
        "Se persiste, chiedi al postmaster.",
        "Interrogate la lista tramite il vostro resolver (--dns).",
        "Fateli coincidere: impostate il PTR al nome HELO.",
        "Nulla da fare; ripetete la diagnosi più tardi.",
        "Un firewall vicino a voi potrebbe bloccare la porta 25.",
        "Pubblicate un record A per il nome HELO.",
    ],
)
def test_checks_catch_the_old_voice(sample: str) -> None:
    assert any(p.search(sample) for p in (_POSSESSIVES, _SECOND_PERSON, _INSTRUCTION_START)), sample


# Words the English labels share with Italian ones: Italian words ("a", "in", "non",
# "quota") and the usual loanwords of Italian technical prose.
_SHARED_WORDS = {"a", "in", "non", "quota", "client", "directory", "host", "password", "server"}


def _words(label: str) -> set[str]:
    # Protocol and record names (SMTP, STARTTLS, MAIL FROM, DKIM, X.6.8) are not translated.
    prose = re.sub(r"\b[A-Z0-9][A-Z0-9.-]+\b", " ", label)
    return {w.lower() for w in re.findall(r"[A-Za-z]+", prose)}


def test_every_label_has_an_italian_form_without_english_words() -> None:
    labels = list(_labels())
    cat = load()
    assert len(labels) == len(cat.replies) + len(cat.classes) + len(cat.subjects) + len(
        cat.statuses
    )
    assert len(labels) > 150
    english = ENGLISH | set().union(*(_words(entry.label) for _, entry in labels))
    english -= _SHARED_WORDS
    found = []
    for where, entry in labels:
        italian = entry.labels.get("it", "")
        if not italian or italian == entry.label:
            found.append(f"{where}: no Italian label (English {entry.label!r})")
        leaked = sorted(_words(italian) & english)
        if leaked:
            found.append(f"{where}: {italian!r} has English words {leaked}")
    assert found == []


@pytest.mark.parametrize(
    ("label", "leaked"),
    [
        ("casella non disponibile", False),
        ("parametri di MAIL FROM/RCPT TO non riconosciuti", False),
        ("mailbox non disponibile", True),
        ("Verifica SPF failed", True),
        ("utente unknown", True),
    ],
)
def test_the_label_check_sees_english(label: str, leaked: bool) -> None:
    english = (ENGLISH | set().union(*(_words(e.label) for _, e in _labels()))) - _SHARED_WORDS
    assert bool(_words(label) & english) is leaked


@pytest.mark.parametrize("section", ["reply", "status", "class", "subject"])
def test_an_entry_without_its_italian_label_is_refused(section: str) -> None:
    name = "replies.toml" if section == "reply" else "enhanced.toml"
    with (DATA / name).open("rb") as fh:
        data = tomllib.load(fh)
    entry = data[section][0]
    del entry["it"]["label"]
    loader = _load_replies if section == "reply" else _load_enhanced
    with pytest.raises(CatalogueError, match=r"'it\.label' is missing or empty"):
        loader(data)
    entry["it"]["label"] = "  "
    with pytest.raises(CatalogueError, match=r"'it\.label' is missing or empty"):
        loader(data)
    del entry["label"]
    with pytest.raises(CatalogueError, match=r"'label' is missing or empty"):
        loader(data)
