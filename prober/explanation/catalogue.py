"""The reply-code catalogue: loading and validating ``prober/data/*.toml``.

The catalogue is data (see ``prober/data/README.md`` for its schema). This module turns
it into typed, frozen records once, and refuses a malformed file with a message that
names the entry at fault, so that a bad edit fails the test suite rather than a probe.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from itertools import permutations
from typing import Any

from prober.errors import CatalogueError
from prober.explanation.resemblance import Resemblance, load_resemblance

LANGUAGES: tuple[str, ...] = ("en", "it")


class Category(enum.StrEnum):
    """The diagnosis of a reply: a closed set, read by the verdict rules."""

    ACCEPTED = "accepted"
    MAILBOX_UNKNOWN = "mailbox_unknown"
    MAILBOX_FULL = "mailbox_full"
    MAILBOX_DISABLED = "mailbox_disabled"
    DOMAIN_UNKNOWN = "domain_unknown"
    RELAY_DENIED = "relay_denied"
    AUTH_REQUIRED = "auth_required"
    TLS_REQUIRED = "tls_required"
    BLOCKED_IP_REPUTATION = "blocked_ip_reputation"
    BLOCKED_SPAM_CONTENT = "blocked_spam_content"
    POLICY_SPF_DKIM_DMARC = "policy_spf_dkim_dmarc"
    RATE_LIMITED = "rate_limited"
    GREYLISTED = "greylisted"
    MESSAGE_TOO_LARGE = "message_too_large"
    SYNTAX_ERROR = "syntax_error"
    SERVER_UNAVAILABLE = "server_unavailable"
    DELIVERY_EXPIRED = "delivery_expired"
    REMOTE_UNREACHABLE = "remote_unreachable"
    OTHER = "other"


class Who(enum.StrEnum):
    """Who has to act on a reply."""

    SENDER = "sender"
    SENDER_ADMIN = "sender_admin"
    RECIPIENT = "recipient"
    RECIPIENT_ADMIN = "recipient_admin"
    NOBODY = "nobody"


class Stage(enum.StrEnum):
    """The command (or moment) a reply answered."""

    CONNECT = "connect"
    BANNER = "banner"
    EHLO = "ehlo"
    HELO = "helo"
    STARTTLS = "starttls"
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    RSET = "rset"
    QUIT = "quit"


@dataclass(frozen=True, slots=True)
class Text:
    """One language's wording of an entry."""

    meaning: str
    action: str


@dataclass(frozen=True, slots=True)
class Reading:
    """A way to read a reply: what it means, who acts, what to do (in every language)."""

    category: Category
    who: Who
    texts: Mapping[str, Text]
    permanent: bool | None = None  # None: derive from the reply's first digit

    def text(self, lang: str) -> Text:
        return self.texts.get(lang) or self.texts["en"]


# How much one piece of evidence weighs when nothing says otherwise (see
# prober/data/README.md, "Weighing the evidence"). A rule may set its own ``weight``.
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "pattern": 0.8,  # words or a provider's code in the text
    "pair": 0.7,  # basic and enhanced codes together
    "status": 0.6,  # the enhanced code's subject and detail
    "stage": 0.3,  # the basic code read at the stage it answered
    "reply": 0.2,  # the basic code alone
    "class": 0.1,  # the enhanced X.0.0 class
}


class Labelled:
    """An entry with a short name in every language: ``label`` (English, for a registry
    entry its official name) and ``it.label``."""

    __slots__ = ()
    labels: Mapping[str, str]

    @property
    def label(self) -> str:
        """The English name: the registry's own for an enhanced status code."""
        return self.labels["en"]

    def label_in(self, lang: str) -> str:
        return self.labels.get(lang) or self.labels["en"]


@dataclass(frozen=True, slots=True)
class ReplyEntry(Labelled):
    code: int
    labels: Mapping[str, str]
    standard: bool
    source: str
    vendor: str
    reading: Reading
    at: Mapping[Stage, Reading]


@dataclass(frozen=True, slots=True)
class PairEntry:
    code: int
    enhanced: str
    stage: Stage | None
    reading: Reading
    weight: float = DEFAULT_WEIGHTS["pair"]


@dataclass(frozen=True, slots=True)
class ClassEntry(Labelled):
    digit: int
    labels: Mapping[str, str]
    meanings: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class StatusEntry(Labelled):
    code: str  # "X.1.1"
    labels: Mapping[str, str]
    reference: str
    classes: tuple[int, ...]
    reading: Reading
    weight: float = DEFAULT_WEIGHTS["status"]


@dataclass(frozen=True, slots=True)
class PatternEntry:
    """A rule that reads the words of a reply and/or the enhanced codes it carries.

    ``regex`` is searched in the text; ``enhanced`` (when set) must match one of the
    enhanced codes of the reply, the leading one or one quoted inside the text. A rule
    with both needs both. ``sources`` names where its wording was taken from (ids of
    the corpus sources, or a short description), so that a benchmark can leave out the
    rules of the source it is scoring.
    """

    id: str
    regex: re.Pattern[str] | None
    classes: tuple[int, ...]
    vendor: str
    reading: Reading
    enhanced: re.Pattern[str] | None = None
    weight: float = DEFAULT_WEIGHTS["pattern"]
    sources: tuple[str, ...] = ()
    # A rule does not vote when ``unless`` is found anywhere in the text.
    unless: re.Pattern[str] | None = None
    # A word family of ``vocabulary.toml``: general words, not one server's wording.
    # Its long matches never silence a specific rule's words inside them.
    general: bool = False
    # Where set, the rule speaks only of replies to these stages (a refusal at the
    # greeting can only be about the connecting client).
    stages: tuple[Stage, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalogue:
    replies: Mapping[int, ReplyEntry]
    pairs: tuple[PairEntry, ...]
    classes: Mapping[int, ClassEntry]
    subjects: Mapping[int, ClassEntry]
    statuses: Mapping[str, StatusEntry]
    patterns: tuple[PatternEntry, ...]
    events: Mapping[str, Reading]
    # The word families of ``vocabulary.toml``, tried after every pattern.
    families: tuple[PatternEntry, ...] = ()
    # The generic reading of each category (``[reading.<category>]`` of vocabulary.toml).
    readings: Mapping[Category, Reading] = field(default_factory=dict)
    # The resemblance model (``prober/explanation/resemblance.py``), fetched on first
    # use: the last reading of a reply no rule placed. A function returning None: none.
    resemblance: Callable[[], Resemblance | None] = load_resemblance

    def pair(self, code: int, enhanced: str, stage: Stage | None) -> PairEntry | None:
        """The most specific pair entry: one for this stage beats one for any stage."""
        fallback = None
        for entry in self.pairs:
            if entry.code != code or entry.enhanced != enhanced:
                continue
            if entry.stage is not None and entry.stage == stage:
                return entry
            if entry.stage is None:
                fallback = entry
        return fallback

    def without(self, source: str) -> Catalogue:
        """This catalogue without the text rules taken from ``source``, for measuring how
        the rest reads replies from a source it has never seen."""
        kept = tuple(p for p in self.patterns if source not in p.sources)
        return replace(self, patterns=kept)

    def status(self, enhanced: str) -> StatusEntry | None:
        """The registry entry for ``enhanced`` ("5.1.1"), looked up class-independently."""
        _, subject, detail = enhanced.split(".")
        return self.statuses.get(f"X.{int(subject)}.{int(detail)}")


_ENHANCED_KEY = re.compile(r"^X\.[0-9]{1,3}\.[0-9]{1,3}$")
_ENHANCED = re.compile(r"^[245]\.[0-9]{1,3}\.[0-9]{1,3}$")


def _fail(where: str, problem: str) -> CatalogueError:
    return CatalogueError(f"catalogue {where}: {problem}")


def _texts(raw: Mapping[str, Any], where: str, *, need_action: bool = True) -> dict[str, Text]:
    texts: dict[str, Text] = {}
    for lang in LANGUAGES:
        block = raw.get(lang)
        if not isinstance(block, Mapping):
            raise _fail(where, f"has no '{lang}' text")
        meaning = block.get("meaning")
        action = block.get("action", "")
        if not isinstance(meaning, str) or not meaning.strip():
            raise _fail(where, f"'{lang}.meaning' is missing or empty")
        if need_action and (not isinstance(action, str) or not action.strip()):
            raise _fail(where, f"'{lang}.action' is missing or empty")
        texts[lang] = Text(meaning=meaning.strip(), action=str(action).strip())
    return texts


def _labels(raw: Mapping[str, Any], where: str) -> dict[str, str]:
    """The short name of an entry in every language: ``label`` is the English one,
    ``it.label`` (and so on) the others."""
    labels: dict[str, str] = {}
    for lang in LANGUAGES:
        key = "label" if lang == "en" else f"{lang}.label"
        block = raw if lang == "en" else raw.get(lang)
        value = block.get("label") if isinstance(block, Mapping) else None
        if not isinstance(value, str) or not value.strip():
            raise _fail(where, f"'{key}' is missing or empty")
        labels[lang] = value.strip()
    return labels


def _reading(raw: Mapping[str, Any], where: str) -> Reading:
    try:
        category = Category(raw["category"])
    except (KeyError, ValueError):
        problem = f"category {raw.get('category')!r} is not one of the closed set"
        raise _fail(where, problem) from None
    try:
        who = Who(raw["who"])
    except (KeyError, ValueError):
        raise _fail(where, f"who {raw.get('who')!r} is not one of the closed set") from None
    permanent = raw.get("permanent")
    if permanent is not None and not isinstance(permanent, bool):
        raise _fail(where, "'permanent' must be true or false")
    return Reading(category=category, who=who, texts=_texts(raw, where), permanent=permanent)


def _weight(raw: Mapping[str, Any], where: str, kind: str) -> float:
    value = raw.get("weight", DEFAULT_WEIGHTS[kind])
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise _fail(where, f"weight {value!r} must be a number above 0 and at most 1")
    return float(value)


def _stage(raw: Any, where: str) -> Stage:
    try:
        return Stage(raw)
    except ValueError:
        raise _fail(where, f"stage {raw!r} is not a known stage") from None


def _code(raw: Any, where: str) -> int:
    if not isinstance(raw, int) or not 100 <= raw <= 599:
        raise _fail(where, f"code {raw!r} is not a three-digit number from 100 to 599")
    return raw


def _load_replies(data: Mapping[str, Any]) -> tuple[dict[int, ReplyEntry], tuple[PairEntry, ...]]:
    replies: dict[int, ReplyEntry] = {}
    for raw in data.get("reply", []):
        code = _code(raw.get("code"), "reply")
        where = f"reply {code}"
        if code in replies:
            raise _fail(where, "appears twice")
        at: dict[Stage, Reading] = {}
        for raw_at in raw.get("at", []):
            stage = _stage(raw_at.get("stage"), where)
            at[stage] = _reading(raw_at, f"{where} at {stage}")
        replies[code] = ReplyEntry(
            code=code,
            labels=_labels(raw, where),
            standard=bool(raw.get("standard", True)),
            source=str(raw.get("source", "")),
            vendor=str(raw.get("vendor", "")),
            reading=_reading(raw, where),
            at=at,
        )
    pairs: list[PairEntry] = []
    for raw in data.get("pair", []):
        code = _code(raw.get("code"), "pair")
        enhanced = str(raw.get("enhanced", ""))
        where = f"pair {code} {enhanced}"
        if not _ENHANCED.match(enhanced):
            raise _fail(where, "enhanced code is not of the form class.subject.detail")
        if enhanced[0] != str(code)[0]:
            raise _fail(where, "basic and enhanced codes are of different classes")
        pair_stage = _stage(raw["stage"], where) if "stage" in raw else None
        pairs.append(
            PairEntry(
                code=code,
                enhanced=enhanced,
                stage=pair_stage,
                reading=_reading(raw, where),
                weight=_weight(raw, where, "pair"),
            )
        )
    return replies, tuple(pairs)


def _load_enhanced(
    data: Mapping[str, Any],
) -> tuple[dict[int, ClassEntry], dict[int, ClassEntry], dict[str, StatusEntry]]:
    def heads(key: str) -> dict[int, ClassEntry]:
        out: dict[int, ClassEntry] = {}
        for raw in data.get(key, []):
            digit = raw.get("digit")
            where = f"{key} {digit}"
            if not isinstance(digit, int):
                raise _fail(where, "digit must be a number")
            texts = _texts(raw, where, need_action=False)
            out[digit] = ClassEntry(
                digit=digit,
                labels=_labels(raw, where),
                meanings={lang: t.meaning for lang, t in texts.items()},
            )
        return out

    statuses: dict[str, StatusEntry] = {}
    for raw in data.get("status", []):
        code = str(raw.get("code", ""))
        where = f"status {code}"
        if not _ENHANCED_KEY.match(code):
            raise _fail(where, "code must look like X.1.1")
        if code in statuses:
            raise _fail(where, "appears twice")
        classes = tuple(int(c) for c in raw.get("classes", []))
        if any(c not in (2, 4, 5) for c in classes):
            raise _fail(where, "classes must be among 2, 4 and 5")
        statuses[code] = StatusEntry(
            code=code,
            labels=_labels(raw, where),
            reference=str(raw.get("reference", "")),
            classes=classes,
            reading=_reading(raw, where),
            weight=_weight(raw, where, "status"),
        )
    return heads("class"), heads("subject"), statuses


def _regex(raw: Mapping[str, Any], key: str, where: str, flags: int) -> re.Pattern[str] | None:
    if key not in raw:
        return None
    try:
        return re.compile(str(raw[key]), flags)
    except re.error as exc:
        raise _fail(where, f"{key} is not a valid regular expression ({exc})") from None


def _new_id(raw: Mapping[str, Any], kind: str, seen: set[str], twice: str) -> tuple[str, str]:
    """An entry's id, checked (its form, not seen before) and added to ``seen``; with the
    name the entry is reported by."""
    entry_id = str(raw.get("id", ""))
    where = f"{kind} {entry_id!r}"
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", entry_id):
        raise _fail(where, "id must be lower-case letters, digits, '-' or '_'")
    if entry_id in seen:
        raise _fail(where, twice)
    seen.add(entry_id)
    return entry_id, where


def _load_patterns(data: Mapping[str, Any]) -> tuple[PatternEntry, ...]:
    patterns: list[PatternEntry] = []
    seen: set[str] = set()
    for raw in data.get("pattern", []):
        pid, where = _new_id(raw, "pattern", seen, "appears twice")
        if "match" not in raw and "enhanced" not in raw:
            raise _fail(where, "needs a 'match' (text) or an 'enhanced' (code) expression")
        regex = _regex(raw, "match", where, re.IGNORECASE)
        codes = _regex(raw, "enhanced", where, 0)
        sources = raw.get("sources", [])
        if not isinstance(sources, list) or not all(isinstance(x, str) and x for x in sources):
            raise _fail(where, "'sources' must be a list of non-empty strings")
        patterns.append(
            PatternEntry(
                id=pid,
                regex=regex,
                classes=tuple(int(c) for c in raw.get("classes", [])),
                vendor=str(raw.get("vendor", "")),
                reading=_reading(raw, where),
                enhanced=codes,
                weight=_weight(raw, where, "pattern"),
                sources=tuple(sources),
                unless=_regex(raw, "unless", where, re.IGNORECASE),
            )
        )
    return tuple(patterns)


# A family's terms are regular-expression fragments; each starts at a word boundary.
_NEAR = 40


def _group(terms: Any, where: str) -> str:
    if not isinstance(terms, list) or not terms or not all(isinstance(t, str) and t for t in terms):
        raise _fail(where, "each group of 'all' must be a non-empty list of terms")
    return r"\b(?:" + "|".join(terms) + ")"


def _family_regex(raw: Mapping[str, Any], where: str) -> re.Pattern[str]:
    """One expression for a family: every group of ``all`` found within ``near``
    characters of the next, in any order."""
    groups = raw.get("all")
    if not isinstance(groups, list) or not 1 <= len(groups) <= 3:
        raise _fail(where, "'all' must list one to three groups of terms")
    near = raw.get("near", _NEAR)
    if isinstance(near, bool) or not isinstance(near, int) or not 0 < near <= 200:
        raise _fail(where, f"near {near!r} must be a number of characters from 1 to 200")
    parts = [_group(g, where) for g in groups]
    gap = f"[\\s\\S]{{0,{near}}}?"
    orders = list(permutations(parts)) if raw.get("ordered") is not True else [tuple(parts)]
    expression = "|".join(gap.join(order) for order in orders)
    try:
        return re.compile(expression, re.IGNORECASE)
    except re.error as exc:
        raise _fail(where, f"a term is not a valid regular expression ({exc})") from None


def _load_vocabulary(
    data: Mapping[str, Any], known: set[str]
) -> tuple[tuple[PatternEntry, ...], dict[Category, Reading]]:
    """The word families of ``vocabulary.toml`` as text rules, each read with the
    generic reading of its category; and those readings."""
    readings: dict[Category, Reading] = {}
    for name, raw in data.get("reading", {}).items():
        where = f"vocabulary reading {name!r}"
        reading = _reading({"category": name, **raw}, where)
        readings[reading.category] = reading
    families: list[PatternEntry] = []
    for raw in data.get("family", []):
        fid, where = _new_id(
            raw, "vocabulary family", known, "appears twice (or shares a pattern's id)"
        )
        try:
            category = Category(raw.get("category"))
        except ValueError:
            raise _fail(
                where, f"category {raw.get('category')!r} is not one of the closed set"
            ) from None
        if category not in readings:
            raise _fail(where, f"no [reading.{category}] for its category")
        sources = raw.get("sources", [])
        if (
            not isinstance(sources, list)
            or not sources
            or not all(isinstance(x, str) and x for x in sources)
        ):
            raise _fail(where, "'sources' must be a non-empty list of strings")
        families.append(
            PatternEntry(
                id=fid,
                regex=_family_regex(raw, where),
                classes=tuple(int(c) for c in raw.get("classes", [4, 5])),
                vendor="",
                reading=readings[category],
                weight=_weight(raw, where, "pattern"),
                sources=tuple(sources),
                unless=_regex(raw, "unless", where, re.IGNORECASE),
                general=True,
                stages=tuple(_stage(name, where) for name in raw.get("stages", [])),
            )
        )
    return tuple(families), readings


def _load_events(data: Mapping[str, Any]) -> dict[str, Reading]:
    events: dict[str, Reading] = {}
    for raw in data.get("event", []):
        eid = str(raw.get("id", ""))
        if eid in events:
            raise _fail(f"event {eid!r}", "appears twice")
        events[eid] = _reading(raw, f"event {eid!r}")
    return events


def _read(name: str) -> Mapping[str, Any]:
    resource = resources.files("prober").joinpath("data").joinpath(name)
    try:
        return tomllib.loads(resource.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"catalogue file {name} is not valid TOML: {exc}") from exc


@cache
def load() -> Catalogue:
    """Load, validate and return the packaged catalogue (once per process)."""
    replies, pairs = _load_replies(_read("replies.toml"))
    classes, subjects, statuses = _load_enhanced(_read("enhanced.toml"))
    patterns = _load_patterns(_read("patterns.toml"))
    families, readings = _load_vocabulary(_read("vocabulary.toml"), {p.id for p in patterns})
    return Catalogue(
        replies=replies,
        pairs=pairs,
        classes=classes,
        subjects=subjects,
        statuses=statuses,
        patterns=patterns,
        events=_load_events(_read("events.toml")),
        families=families,
        readings=readings,
    )
