"""Reply → explanation: what a reply means, whether it is permanent, who acts, what to do.

Pure code over the catalogue. The most specific knowledge wins, in this order:

1. a text pattern (servers often give the real reason only in words: "blocked using
   zen.spamhaus.org" under a plain 550),
2. the basic and enhanced codes together, at this stage, then at any stage,
3. the enhanced code alone (when its subject and detail say something: not X.0.0),
4. the basic code at this stage (a 550 to MAIL is about the sender), then on its own,
5. the enhanced X.0.0 class,
6. the digits alone, saying the code is unknown.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from prober.explanation.catalogue import (
    LANGUAGES,
    Catalogue,
    Category,
    Reading,
    Stage,
    Who,
    load,
)
from prober.smtp.reply import Reply, parse_pasted

__all__ = ["Explanation", "explain", "explain_event", "explain_reply", "explain_text"]


@dataclass(frozen=True, slots=True)
class Explanation:
    """The explanation of one reply (or pseudo-reply such as 101/111)."""

    code: int | None
    enhanced_code: str | None
    category: Category
    permanent: bool | None  # None: not a failure (2xx/3xx) or nothing to go by
    meaning: str
    action: str
    who: Who
    lang: str
    rule: str  # which catalogue entry decided: "pattern:spamhaus", "pair:550+5.1.1", …
    known: bool  # False when the catalogue had nothing but the digits
    label: str = ""
    standard: bool | None = None
    text: str = ""  # the server's own words, when there were any

    @property
    def failed(self) -> bool:
        return self.permanent is not None

    def to_dict(self) -> dict[str, Any]:
        # Built field by field: dataclasses.asdict deep-copies, and list mode calls this
        # for every step of every address.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["category"] = str(self.category)
        data["who"] = str(self.who)
        return data


_FIELDS = tuple(f.name for f in fields(Explanation))


@cache
def _digits() -> Mapping[str, Any]:
    data = resources.files("prober").joinpath("data").joinpath("digits.toml")
    return tomllib.loads(data.read_text(encoding="utf-8"))


def _permanent(code: int | None, enhanced: str | None, reading: Reading | None) -> bool | None:
    if reading is not None and reading.permanent is not None:
        return reading.permanent
    first = code // 100 if code is not None else (int(enhanced[0]) if enhanced else None)
    if first == 5:
        return True
    if first in (1, 4):
        return False
    return None


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else "en"


def explain(
    code: int | None,
    text: str = "",
    *,
    enhanced: str | None = None,
    stage: Stage | None = None,
    lang: str = "en",
    catalogue: Catalogue | None = None,
) -> Explanation:
    """Explain a reply given as its parts. ``code`` may be None when only an enhanced
    code or only text is known."""
    if catalogue is None:
        # The packaged catalogue never changes, and no rule reads the address a reply
        # quotes: replies that differ only in it ("550 5.1.1 <bob@x>: User unknown" for
        # every unknown address of a list) are explained once, then only the text differs.
        masked = _ADDRESS.sub("<address>", text)
        why = _explain_packaged(code, masked, enhanced, stage, _lang(lang))
        return why if masked == text else replace(why, text=text)
    return _explain(code, text, enhanced, stage, _lang(lang), catalogue)


# An address as servers quote them; "@" with no space on either side.
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:@]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+")


@lru_cache(maxsize=2048)
def _explain_packaged(
    code: int | None, text: str, enhanced: str | None, stage: Stage | None, lang: str
) -> Explanation:
    return _explain(code, text, enhanced, stage, lang, load())


def _explain(
    code: int | None,
    text: str,
    enhanced: str | None,
    stage: Stage | None,
    lang: str,
    cat: Catalogue,
) -> Explanation:
    first = code // 100 if code is not None else (int(enhanced[0]) if enhanced else None)

    chosen: tuple[str, Reading] | None = None
    label = ""
    standard: bool | None = None
    entry = cat.replies.get(code) if code is not None else None
    if entry is not None:
        label, standard = entry.label, entry.standard
    status = cat.status(enhanced) if enhanced is not None else None
    if status is not None and not label:
        label = status.label

    if text and first is not None and first != 1:
        for pattern in cat.patterns:
            if pattern.classes and first not in pattern.classes:
                continue
            if pattern.regex.search(text):
                chosen = (f"pattern:{pattern.id}", pattern.reading)
                break
    elif text and first is None:
        # Free text with no code at all (a pasted sentence): patterns are all we have.
        for pattern in cat.patterns:
            if pattern.regex.search(text):
                chosen = (f"pattern:{pattern.id}", pattern.reading)
                break
    if chosen is None and code is not None and enhanced is not None:
        pair = cat.pair(code, enhanced, stage)
        if pair is not None:
            where = f"@{pair.stage}" if pair.stage is not None else ""
            chosen = (f"pair:{code}+{enhanced}{where}", pair.reading)
    if chosen is None and status is not None and not status.code.startswith("X.0."):
        chosen = (f"status:{status.code}", status.reading)
    if chosen is None and entry is not None:
        if stage is not None and stage in entry.at:
            chosen = (f"reply:{code}@{stage}", entry.at[stage])
        else:
            chosen = (f"reply:{code}", entry.reading)
    if chosen is None and status is not None:
        chosen = (f"status:{status.code}", status.reading)

    if chosen is None:
        return _unknown(code, enhanced, text, lang, cat)
    rule, reading = chosen
    words = reading.text(lang)
    return Explanation(
        code=code,
        enhanced_code=enhanced,
        category=reading.category,
        permanent=_permanent(code, enhanced, reading),
        meaning=words.meaning,
        action=words.action,
        who=reading.who,
        lang=lang,
        rule=rule,
        known=True,
        label=label,
        standard=standard,
        text=text,
    )


def _unknown(
    code: int | None, enhanced: str | None, text: str, lang: str, cat: Catalogue
) -> Explanation:
    digits = _digits()
    if code is None and enhanced is None:
        # Nothing but words, and no rule recognised them.
        words = digits["no_code"][lang]
        meaning, action = words["meaning"], words["action"]
        return Explanation(
            code=None,
            enhanced_code=None,
            category=Category.OTHER,
            permanent=None,
            meaning=meaning,
            action=action,
            who=Who.SENDER,
            lang=lang,
            rule="none",
            known=False,
            text=text,
        )
    if code is not None:
        first, second = divmod(code // 10, 10)
        firsts = {d["digit"]: d[lang] for d in digits["first"]}
        seconds = {d["digit"]: d[lang] for d in digits["second"]}
        first_text = firsts.get(first) or _no_class(lang)
        second_text = seconds.get(second, seconds.get(3, "?"))
        shown: str = str(code)
    else:
        assert enhanced is not None
        klass, subject, _ = (int(p) for p in enhanced.split("."))
        first = klass
        first_text = cat.classes[klass].meanings[lang] if klass in cat.classes else _no_class(lang)
        unassigned = digits["unassigned_subject"][lang]
        second_text = (
            cat.subjects[subject].meanings[lang] if subject in cat.subjects else unassigned
        )
        shown = enhanced
    advice = digits["advice"][lang].get(str(first), "")
    template = digits["unknown" if code is not None else "unknown_enhanced"][lang]
    if first in (2, 3):
        category = Category.ACCEPTED
    elif code is not None and (code // 10) % 10 == 2:
        category = Category.SERVER_UNAVAILABLE
    else:
        category = Category.OTHER
    return Explanation(
        code=code,
        enhanced_code=enhanced,
        category=category,
        permanent=_permanent(code, enhanced, None),
        meaning=template["meaning"].format(code=shown, first=first_text, second=second_text),
        action=template["action"].format(advice=advice),
        who=Who.NOBODY if first in (2, 3) else Who.SENDER_ADMIN,
        lang=lang,
        rule=f"digits:{first}xx" if code is not None else f"digits:{first}.x.x",
        known=False,
        text=text,
    )


def explain_reply(reply: Reply, stage: Stage | None = None, lang: str = "en") -> Explanation:
    """Explain a reply received during a dialogue, at the stage it answered."""
    return explain(reply.code, reply.text, enhanced=reply.enhanced, stage=stage, lang=lang)


def _no_class(lang: str) -> str:
    from prober.output.messages import message

    return message("digit_no_class", lang)


def explain_text(pasted: str, lang: str = "en", stage: Stage | None = None) -> Explanation:
    """Explain what a person pasted: ``550``, ``5.1.1``, or a reply copied from a log."""
    parsed = parse_pasted(pasted)
    return explain(parsed.code, parsed.text, enhanced=parsed.enhanced, stage=stage, lang=lang)


# How the connection failures that support desks know by number are reported: no server
# sent these codes; clients and support articles use them for "cannot connect" (101)
# and "connection refused" (111).
_EVENT_CODES = {"unreachable": 101, "connect_timeout": 101, "refused": 111}


def explain_event(event: str, detail: str, lang: str = "en") -> Explanation:
    """Explain a client-side event (a timeout, a reset, a failed handshake …).

    ``event`` is a :class:`~prober.errors.NetworkError` kind or an ``events.toml`` id;
    ``detail`` is the sentence saying what happened, kept as the explanation's text.
    """
    if event in _EVENT_CODES:
        return explain(_EVENT_CODES[event], detail, stage=Stage.CONNECT, lang=lang)
    lang = _lang(lang)
    reading = load().events.get(event) or load().events["protocol"]
    words = reading.text(lang)
    return Explanation(
        code=None,
        enhanced_code=None,
        category=reading.category,
        permanent=reading.permanent,
        meaning=words.meaning,
        action=words.action,
        who=reading.who,
        lang=lang,
        rule=f"event:{event}",
        known=True,
        text=detail,
    )
