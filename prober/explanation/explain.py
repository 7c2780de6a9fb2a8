"""Reply → explanation: what a reply means, whether it is permanent, who acts, what to do.

Pure code over the catalogue. A reply is read as weighed evidence, not by the first rule
that matches. Every signal votes for a category with a weight (see the catalogue's
``weight`` fields and ``DEFAULT_WEIGHTS``):

- text rules (``patterns.toml``): words, a provider's own code or help link, a blocklist
  name; a rule may also test the enhanced codes of the reply, and an ``unless``
  expression keeps it quiet;
- word families (``vocabulary.toml``): the general words of each kind of refusal, in
  several languages, tried after the text rules; their long matches never silence a
  specific rule's words;
- the basic and enhanced codes together, at this stage (``pair``);
- the enhanced code's subject and detail (``status``), the leading one and any other
  enhanced code quoted inside the text (a 550 whose words carry 4.4.7);
- the basic code at this stage, then on its own; the enhanced X.0.0 class.

The category whose strongest single vote weighs most wins; more votes for it break ties
and raise the confidence (their combined weight, 1 - Π(1 - w)), votes for other
categories lower it instead of flipping the answer. Codes whose reading is ``other``
("this code says nothing specific") speak only when nothing specific does; a text rule
reading ``other`` is a finding and competes. Words inside longer words that another rule
read differently are no evidence. A missing mailbox or domain needs one piece of
evidence of at least ``_FLOOR``, a temporary code counts half towards it, and it gives
way to evidence within ``_CAUTION`` that the refusal is about the sender or the route (a
block, a policy, a rate, TLS, an expiry, an unreachable server); at MAIL FROM it is the
sender's. Words saying a queue gave up turn a temporary condition it met (greylisting,
a rate, a server's trouble, a failed route) into an expired delivery. With no vote at
all the digits alone explain the code, saying it is unknown.
See ``prober/data/README.md``, "Weighing the evidence".
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
    DEFAULT_WEIGHTS,
    LANGUAGES,
    Catalogue,
    Category,
    Reading,
    Stage,
    Who,
    load,
)
from prober.smtp.reply import STAMPED_ID, Reply, parse_pasted

__all__ = [
    "Explanation",
    "confidence_level",
    "explain",
    "explain_event",
    "explain_reply",
    "explain_text",
]


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
    # How sure the reading is, from 0 to 1 (see :func:`confidence_level` for the words),
    # and the evidence that decided it, as sentences a user can read.
    confidence: float = 1.0
    evidence: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return self.permanent is not None

    def to_dict(self) -> dict[str, Any]:
        # Built field by field: dataclasses.asdict deep-copies, and list mode calls this
        # for every step of every address.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["category"] = str(self.category)
        data["who"] = str(self.who)
        data["evidence"] = list(self.evidence)
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
        # Nor the identifiers servers stamp on each reply (Gmail's "a1si5234567wrb.12 -
        # gsmtp", Microsoft's host names): long runs mixing letters and digits.
        masked = STAMPED_ID.sub("id0", _ADDRESS.sub("<address>", text))
        why = _explain_packaged(code, masked, enhanced, stage, _lang(lang))
        return why if masked == text else replace(why, text=text)
    return _explain(code, text, enhanced, stage, _lang(lang), catalogue)


# An address as servers quote them; "@" with no space on either side.
# The local part starts where a token starts (the lookbehind), so a long run without
# "@" is scanned once, not once per character.
_ADDRESS = re.compile(
    r"(?<![^\s<>()\[\]\"',;:@])[^\s<>()\[\]\"',;:@]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+"
)


@lru_cache(maxsize=2048)
def _explain_packaged(
    code: int | None, text: str, enhanced: str | None, stage: Stage | None, lang: str
) -> Explanation:
    return _explain(code, text, enhanced, stage, lang, load())


# Diagnoses that say the address itself is bad: they need positive evidence, and lose to
# comparable evidence that the refusal is about the sender or the way to the server.
_NEGATIVE = frozenset(
    {Category.MAILBOX_UNKNOWN, Category.MAILBOX_DISABLED, Category.DOMAIN_UNKNOWN}
)
_SENDER_SIDE = frozenset(
    {
        Category.BLOCKED_IP_REPUTATION,
        Category.BLOCKED_SPAM_CONTENT,
        Category.POLICY_SPF_DKIM_DMARC,
        Category.RATE_LIMITED,
        Category.GREYLISTED,
        Category.TLS_REQUIRED,
        Category.AUTH_REQUIRED,
        Category.DELIVERY_EXPIRED,
        Category.REMOTE_UNREACHABLE,
    }
)
# Temporary conditions a sending queue may have met before it gave up.
_PASSING = frozenset(
    {
        Category.GREYLISTED,
        Category.RATE_LIMITED,
        Category.SERVER_UNAVAILABLE,
        Category.REMOTE_UNREACHABLE,
    }
)
# Commands before MAIL FROM that name the client or its login, not an address: a domain
# there is the client's own name, a user its login. (At the greeting a host may still
# say that it takes no mail for anyone: 521.)
_BEFORE_ADDRESSES = frozenset({Stage.EHLO, Stage.HELO, Stage.STARTTLS, Stage.AUTH})
# Before the client has said anything but its address: the connection and the greeting.
_GREETING = frozenset({Stage.CONNECT, Stage.BANNER})
_MAILBOX = frozenset({Category.MAILBOX_UNKNOWN, Category.MAILBOX_DISABLED})
# How close sender-side evidence must come to a missing-mailbox reading to take over.
_CAUTION = 0.25
# What a temporary (4.x.x) code is worth when its registry reading is a missing mailbox
# or domain: "452 4.1.1 … too many recent messages" is a rate limit, and a temporary
# refusal cannot prove that an address does not exist.
_TEMPORARY = 0.5
# The least a single piece of evidence must weigh to read a reply as a missing mailbox
# or domain at all.
_FLOOR = 0.45
# How sure "other" is when only codes that say nothing specific spoke: not very.
_UNSPECIFIC = 0.3

# An enhanced code quoted in the text ("550 ... 4.4.7 QUEUE.Expired"): not part of a
# dotted number (an IP address, a version) on either side.
_IN_TEXT = re.compile(r"(?<![\w.])([245])\.([0-9]{1,3})\.([0-9]{1,3})(?!\.?[0-9])")
_MAX_CODES = 8
# How much of a reply's text the rules read: a reply line is at most 512 octets (RFC
# 5321) and real multi-line replies stay within a few KiB; the rest is kept, not read.
_READ = 8192
_SUBJECT = 0.3  # an enhanced code known only by its subject
# Evidence from the text rules: an ``other`` reading there is a positive finding (the
# words say what the refusal is about, and it is none of the specific categories).
_WORDS = frozenset({"pattern", "code"})
_SNIPPET = 60
# Resemblance to the corpus's wording (resemblance.py) speaks when the rules read a failure
# as ``other`` or with less confidence than _RESEMBLE_BELOW: from a probability of
# _RESEMBLE_AT when only the digits spoke, of _RESEMBLE_OVER against a reading of the
# codes. A text without codes needs more than _FAMILIAR of its words to be words the
# corpus uses. Its own confidence is its probability times the cap: always "low".
# (Chosen on rounds 26-32 of the corpus, read with the rules and corpus as they stood
# before those rounds; README, "Resemblance".)
_RESEMBLE_BELOW = 0.5
_RESEMBLE_AT = 0.3
_RESEMBLE_OVER = 0.5
_FAMILIAR = 0.25
_RESEMBLANCE_CAP = 0.44
_LETTERS = re.compile(r"[^\W0-9_]{3}")


@dataclass(frozen=True, slots=True)
class _Vote:
    category: Category
    weight: float
    reading: Reading
    rule: str
    kind: str  # which ``evidence`` label of digits.toml says what it is
    said: str  # the code or words it rests on
    order: int
    span: tuple[int, int] | None = None  # where the words matched in the text
    general: bool = False  # a word family, not one server's own wording


def _codes(text: str, enhanced: str | None, first: int | None) -> list[str]:
    """The enhanced codes of a reply: the leading one, then those quoted in the text."""
    codes = [enhanced] if enhanced is not None else []
    if text and first in (4, 5, None):
        for match in _IN_TEXT.finditer(text):
            found = f"{match.group(1)}.{int(match.group(2))}.{int(match.group(3))}"
            if found not in codes:
                codes.append(found)
            if len(codes) >= _MAX_CODES:
                break
    return codes


def _snippet(words: str) -> str:
    words = " ".join(words.split())
    return words if len(words) <= _SNIPPET else words[: _SNIPPET - 1] + "…"


def _votes(
    code: int | None,
    text: str,
    enhanced: str | None,
    stage: Stage | None,
    cat: Catalogue,
    codes: list[str],
) -> list[_Vote]:
    first = code // 100 if code is not None else (int(enhanced[0]) if enhanced else None)
    votes: list[_Vote] = []

    def vote(
        reading: Reading,
        weight: float,
        rule: str,
        kind: str,
        said: str,
        span: tuple[int, int] | None = None,
        general: bool = False,
    ) -> None:
        v = _Vote(reading.category, weight, reading, rule, kind, said, len(votes), span, general)
        votes.append(v)

    if first != 1 and (text or codes):
        # Specific rules first: within a category the first one that matched speaks.
        for pattern in (*cat.patterns, *cat.families):
            if first is not None and pattern.classes and first not in pattern.classes:
                continue
            if pattern.stages and stage not in pattern.stages:
                continue
            said = ""
            span = None
            if pattern.unless is not None and text and pattern.unless.search(text):
                continue
            if pattern.regex is not None:
                match = pattern.regex.search(text) if text else None
                if match is None:
                    continue
                said, span = _snippet(match.group(0)), match.span()
            kind = "pattern"
            if pattern.enhanced is not None:
                hit = next((c for c in codes if pattern.enhanced.fullmatch(c)), None)
                if hit is None:
                    continue
                said, kind = (hit, "code") if not said else (f"{hit} + \x00{said}\x00", "code")
            else:
                said = f"\x00{said}\x00"
            general = pattern.general
            rule = f"{'words' if general else 'pattern'}:{pattern.id}"
            vote(pattern.reading, pattern.weight, rule, kind, said, span, general)
    if code is not None and enhanced is not None:
        pair = cat.pair(code, enhanced, stage)
        if pair is not None:
            where = f"@{pair.stage}" if pair.stage is not None else ""
            said = f"{code} + {enhanced}"
            weight = pair.weight
            if first == 4 and pair.reading.category in _NEGATIVE:
                weight *= _TEMPORARY
            vote(pair.reading, weight, f"pair:{code}+{enhanced}{where}", "pair", said)
    if first != 1:
        for index, found in enumerate(codes):
            status = cat.status(found)
            if status is None:
                if found[0] == "2":
                    continue  # an unlisted success detail says nothing of a failure
                # A detail the registry does not list (a vendor's 4.4.316): its subject
                # still says something, weakly.
                subject = cat.status(found.rsplit(".", 1)[0] + ".0")
                if subject is not None and subject.reading.category is not Category.OTHER:
                    kind = "status" if index == 0 and found == enhanced else "in_text"
                    vote(subject.reading, _SUBJECT, f"status:{subject.code}", kind, found)
                continue
            if (
                found[0] == "2"
                and found.endswith(".0")
                and status.reading.category is not Category.ACCEPTED
            ):
                # A success code's bare subject ("221 2.3.0 closing connection") names
                # the subject of a success, never a failure.
                continue
            if found[0] == "2" and status.reading.category in _NEGATIVE:
                # A success never says the address is bad ("251 2.1.6 User not local;
                # will forward": X.1.6 says where the mailbox went, and the mail was taken).
                continue
            if found[0] != "2" and status.reading.category is Category.ACCEPTED:
                # A success detail on a failure ("501 5.1.5 Recipient address reserved
                # by RFC 2606"): the registry lists X.1.5 for class 2 only, so the
                # detail is misused and says nothing about this refusal.
                continue
            if status.code.startswith("X.0."):
                if index == 0:
                    weight = DEFAULT_WEIGHTS["class"]
                    vote(status.reading, weight, f"status:{status.code}", "status", found)
                continue
            quoted = index > 0 or found != enhanced
            weight = status.weight * (0.9 if quoted else 1.0)
            if found[0] == "4" and status.reading.category in _NEGATIVE:
                weight *= _TEMPORARY  # a temporary code cannot say the address is bad
            kind = "in_text" if quoted else "status"
            vote(status.reading, weight, f"status:{status.code}", kind, found)
    entry = cat.replies.get(code) if code is not None else None
    if entry is not None and _policy_over_syntax(code, codes):
        entry = None
    if entry is not None:
        # A reply at the connection is the greeting: it reads as one.
        at = Stage.BANNER if stage is Stage.CONNECT and stage not in entry.at else stage
        if at is not None and at in entry.at:
            weight = DEFAULT_WEIGHTS["stage"]
            vote(entry.at[at], weight, f"reply:{code}@{at}", "stage", str(code))
        else:
            vote(entry.reading, DEFAULT_WEIGHTS["reply"], f"reply:{code}", "reply", str(code))
    return _subsumed_dropped(votes)


def _policy_over_syntax(code: int | None, codes: list[str]) -> bool:
    """Whether a syntax or sequence code gives way to a security or policy detail.

    500, 501 and 503 say the command could not be taken as written or came out of
    order; an enhanced code of subject 7 (X.7.y, security or policy status, RFC 3463
    §3.8) beside one says the server understood it and refused it on purpose ("501
    5.7.1 <user>... Permission denied"). The basic code's reading then says nothing
    about the refusal. 551 ("user not local") is read as a relay refusal; beside an X.7
    detail it is a refusal on purpose as well ("551 5.7.1 Go away!"). 502 and 504 stay:
    they say what the server does not offer.
    """
    if code not in (500, 501, 503, 551):
        return False
    return any(c[0] == "5" and c.split(".")[1] == "7" for c in codes)


def _subsumed_dropped(votes: list[_Vote]) -> list[_Vote]:
    """Words that are only part of longer words another rule matched, read differently,
    are no evidence of their own: "recipient address rejected: access denied" inside
    Microsoft's "… access denied. AS(201806281)"."""
    # A word family's match may run across a specific rule's words: it silences none.
    spans = [v for v in votes if v.span is not None and not v.general]
    if not spans or len([v for v in votes if v.span is not None]) < 2:
        return votes

    def inside(small: _Vote, big: _Vote) -> bool:
        assert small.span is not None and big.span is not None
        (a, b), (c, d) = small.span, big.span
        return c <= a and b <= d and (b - a) < (d - c) and small.category is not big.category

    return [v for v in votes if v.span is None or not any(inside(v, w) for w in spans)]


def _decide(votes: list[_Vote], first: int | None) -> tuple[_Vote, float, list[_Vote]] | None:
    """The deciding vote, the confidence, and the votes to show (deciding ones first).

    The strongest single piece of evidence decides the category; more votes for it only
    break ties and raise the confidence, votes for other categories lower it.
    """
    scores: dict[Category, float] = {}
    best: dict[Category, _Vote] = {}
    for v in votes:
        if v.category is Category.OTHER and v.kind not in _WORDS:
            continue  # a code saying nothing specific: only a fallback
        scores[v.category] = 1 - (1 - scores.get(v.category, 0.0)) * (1 - v.weight)
        held = best.get(v.category)
        if held is None or _strength(v) > _strength(held):
            best[v.category] = v
    weak: list[_Vote] = []
    for category in _NEGATIVE & scores.keys():
        if best[category].weight < _FLOOR:
            del scores[category]  # too weak to say the address is bad: no vote at all
            weak += [v for v in votes if v.category is category]
            votes = [v for v in votes if v.category is not category]
    if not votes:
        return None
    if not scores:
        # Nothing specific spoke: the code's generic meaning, as "other".
        deciding = max(votes, key=_strength)
        confidence = min(deciding.weight, _UNSPECIFIC)
        shown = sorted(votes, key=_strength, reverse=True)
    else:
        # The strongest single vote decides; at equal strength, the category more votes
        # agree on, then the earlier rule.
        ranked = sorted(scores, key=lambda c: _rank(best[c], scores[c]), reverse=True)
        winner = ranked[0]
        if winner in _NEGATIVE:
            rivals = [c for c in ranked if _may_take_over(best[c], best[winner])]
            if rivals and best[rivals[0]].weight >= best[winner].weight - _CAUTION:
                winner = rivals[0]
        if winner in _PASSING and any(
            v.category is Category.DELIVERY_EXPIRED and v.kind in _WORDS for v in votes
        ):
            # A queue that gave up after temporary failures: the failure it quotes is
            # the history, the outcome is an expired delivery.
            winner = Category.DELIVERY_EXPIRED
        runner = max((s for c, s in scores.items() if c is not winner), default=0.0)
        confidence = scores[winner] * (1 - runner / 2)
        support = [v for v in votes if v.category is winner]
        # Within the winning category the words come from the most specific evidence: a
        # text rule (the first in file order, where specific rules come before general
        # ones), then the codes.
        deciding = max(support, key=_specific)
        against = [
            v
            for v in votes
            if v.category is not winner and (v.category is not Category.OTHER or v.kind in _WORDS)
        ]
        neutral = [v for v in votes if v.category is Category.OTHER and v.kind not in _WORDS]
        shown = sorted(support, key=_strength, reverse=True)
        shown += sorted(against, key=_strength, reverse=True)
        shown += sorted(neutral, key=_strength, reverse=True)[:1]
    shown += weak
    if first in (1, 2, 3):
        # The first digit decides a success or a client-side report beyond doubt.
        confidence = 1.0
    return deciding, round(min(confidence, 1.0), 2), shown


def _may_take_over(rival: _Vote, negative: _Vote) -> bool:
    """Whether evidence about the sender or the route may take over a reading that says
    the address is bad. Words saying the domain is missing, against nothing but a
    routing code: a domain that does not exist gets X.4.4 ("unable to route") too, so
    the code alone does not take the reading over; words or a pair of codes do. The
    server's own words saying it failed, against nothing but a code that says the
    address is bad ("503 5.1.1 Internal error during delivery"), take it over: a server
    in trouble sends whatever code comes to hand; so do words saying the command was
    wrong ("503 5.1.1 No recipients"), or naming the local rule that refused ("550 5.1.1
    <x> sender is blacklisted")."""
    if rival.category in (Category.SERVER_UNAVAILABLE, Category.SYNTAX_ERROR, Category.OTHER):
        return rival.kind in _WORDS and negative.kind not in _WORDS
    if rival.category not in _SENDER_SIDE:
        return False
    return not (
        negative.category is Category.DOMAIN_UNKNOWN
        and rival.category is Category.REMOTE_UNREACHABLE
        and rival.kind in ("status", "in_text")
        and negative.kind in _WORDS
    )


# At equal weight, the more specific kind of evidence speaks for its category.
_SPECIFICITY = {"code": 6, "pattern": 5, "pair": 4, "status": 3, "in_text": 2, "stage": 1}


def _specific(v: _Vote) -> tuple[int, int, float]:
    if v.kind in _WORDS:
        return (1, -v.order, v.weight)
    return (0, _SPECIFICITY.get(v.kind, 0), v.weight)


def _strength(v: _Vote) -> tuple[float, int, int]:
    return (v.weight, _SPECIFICITY.get(v.kind, 0), -v.order)


def _rank(v: _Vote, score: float) -> tuple[float, int, float, int]:
    return (v.weight, _SPECIFICITY.get(v.kind, 0), score, -v.order)


def confidence_level(confidence: float) -> str:
    """The word for a confidence: ``high`` from 0.75, ``medium`` from 0.45, else ``low``."""
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.45:
        return "medium"
    return "low"


def why_we_think_so(why: Explanation) -> str:
    """The evidence and confidence of an explanation as one sentence, in its language:
    the evidence for the category joined by "+", then what was outweighed or neutral."""
    labels = _digits()["evidence"][_lang(why.lang)]
    arrow = f" → {why.category}"
    support = [e.removesuffix(arrow) for e in why.evidence if e.endswith(arrow)]
    rest = [e for e in why.evidence if not e.endswith(arrow)]
    parts = [" + ".join(support) + arrow] if support else []
    parts += rest
    level = labels[confidence_level(why.confidence)]
    sure = f"{labels['confidence']} {level}, {why.confidence:.2f}"
    if not parts:
        return f"{labels['why']}: {sure}"
    # Categories are shown as the transcript shows them, in brackets: identifiers, not words.
    shown = _ARROW.sub(r" → [\1]", "; ".join(parts))
    return f"{labels['why']}: {shown} ({sure})"


_ARROW = re.compile(r" → ([a-z_]+)")


def _evidence(
    shown: list[_Vote], winner: Category, stage: Stage | None, lang: str
) -> tuple[str, ...]:
    labels = _digits()["evidence"][lang]
    out: list[str] = []
    for v in shown[:6]:
        what = labels[v.kind].format(
            said=v.said, rule=v.rule.split(":", 1)[-1], stage=str(stage).upper()
        )
        if "\x00" in what:  # the words of the reply, quoted the way the language does
            head, words, tail = what.split("\x00", 2)
            what = head + labels["quote"].format(said=words) + tail
        if v.category in _NEGATIVE and v.weight < _FLOOR and winner is not v.category:
            line = f"{what} → {v.category} ({labels['weak']})"
        elif v.category is Category.OTHER and v.kind not in _WORDS and winner is not v.category:
            line = f"{what} ({labels['neutral']})"
        else:
            line = f"{what} → {v.category}"
            if v.category is not winner:
                line += f" ({labels['outweighed']})"
        out.append(line)
    return tuple(out)


# Bounces and logs say which command a reply answered ("… (in reply to RCPT TO
# command)", "SMTP error from remote mail server after MAIL FROM:…").
_STAGE_NAMED = re.compile(
    r"\b(?:in reply to|after) (?:the )?(mail from|rcpt to|end of data|data|helo|ehlo|"
    r"initial connection)\b",
    re.IGNORECASE,
)
_STAGES_NAMED = {
    "mail from": Stage.MAIL,
    "rcpt to": Stage.RCPT,
    "end of data": Stage.DATA,
    "data": Stage.DATA,
    "helo": Stage.HELO,
    "ehlo": Stage.EHLO,
    "initial connection": Stage.BANNER,
}


def _stage_named(text: str) -> Stage | None:
    match = _STAGE_NAMED.search(text)
    return _STAGES_NAMED[match.group(1).lower()] if match is not None else None


def _explain(
    code: int | None,
    text: str,
    enhanced: str | None,
    stage: Stage | None,
    lang: str,
    cat: Catalogue,
) -> Explanation:
    first = code // 100 if code is not None else (int(enhanced[0]) if enhanced else None)
    label = ""
    standard: bool | None = None
    entry = cat.replies.get(code) if code is not None else None
    if entry is not None:
        label, standard = entry.label_in(lang), entry.standard
    status = cat.status(enhanced) if enhanced is not None else None
    if status is not None and not label:
        label = status.label_in(lang)

    if stage is None and code is not None:
        stage = _stage_named(text[:_READ])
    read = text[:_READ]
    codes = _codes(read, enhanced, first)
    votes = _votes(code, read, enhanced, stage, cat, codes)
    if stage in _BEFORE_ADDRESSES:
        # No address has been given yet: words of a "missing domain" or "unknown user"
        # here are about the client's own name or login, not the recipient. The codes
        # keep their reading at this stage.
        votes = [v for v in votes if v.category not in _NEGATIVE or v.kind not in _WORDS]
    elif stage in _GREETING:
        # Nor at the greeting: no recipient has been named, so words of a missing mailbox
        # or domain there are about the client or RFC 5321's default texts ("554 No SMTP
        # service here" refuses this client). Only beside 521 (RFC 7504) do they say
        # what that code says: this host takes no mail at all.
        votes = [
            v
            for v in votes
            if v.category not in _NEGATIVE
            or v.kind not in _WORDS
            or (code == 521 and v.category is Category.DOMAIN_UNKNOWN)
        ]
    decided = _decide(votes, first) if votes else None
    if decided is None:
        return _resembled(_unknown(code, enhanced, text, lang, cat), first, codes, cat, None)
    deciding, confidence, shown = decided
    reading = deciding.reading
    evidence = _evidence(shown, reading.category, stage, lang)
    if stage is Stage.MAIL and reading.category in _NEGATIVE:
        # A refusal of MAIL FROM is about the sender: "user unknown" there is the sender.
        # A code the catalogue does not list is read as the usual code of its class.
        usual = entry if entry is not None else cat.replies.get(50 + 100 * (first or 5))
        sender = usual.at.get(Stage.MAIL) if usual is not None else None
        if sender is not None:
            note = _digits()["evidence"][lang]["sender"]
            evidence = (*evidence, f"{note} → {sender.category}")
            reading = sender
    words = reading.text(lang)
    # Without a basic code, the first enhanced code quoted in the text ("… (#4.4.1)")
    # says whether the failure is temporary.
    permanent = _permanent(code, enhanced or (codes[0] if codes else None), reading)
    if any(v.category is Category.DELIVERY_EXPIRED and v.kind in _WORDS for v in votes):
        permanent = True  # the sender gave up, whatever temporary reply it quotes
    why = Explanation(
        code=code,
        enhanced_code=enhanced,
        category=reading.category,
        permanent=permanent,
        meaning=words.meaning,
        action=words.action,
        who=reading.who,
        lang=lang,
        rule=deciding.rule,
        known=True,
        label=label,
        standard=standard,
        text=text,
        confidence=confidence,
        evidence=evidence,
    )
    return _resembled(why, first, codes, cat, deciding)


def _resembled(
    why: Explanation, first: int | None, codes: list[str], cat: Catalogue, deciding: _Vote | None
) -> Explanation:
    """The reading of a failure no rule placed, or placed with little confidence, by what
    its wording resembles in the corpus (``resemblance.py``): a hedged reading, never one
    that says the address is bad, and never over what the rules are sure of, what a
    provider's or MTA's own rule found, what the words of any rule found to be ``other``,
    or what the codes mean at this stage. ``deciding`` is the deciding vote, None when
    only the digits spoke."""
    kind = deciding.kind if deciding is not None else None
    if first in (1, 2, 3):
        return why
    if why.category is Category.OTHER:
        if kind in _WORDS:
            return why
    elif why.confidence >= _RESEMBLE_BELOW or kind in ("pair", "stage"):
        return why
    elif kind in _WORDS and deciding is not None and not deciding.general:
        return why  # a rule written for this server's own words
    if not _LETTERS.search(why.text):
        return why
    model = cat.resemblance()
    if model is None:
        return why
    read = why.text[:_READ]
    if why.code is None and not codes and model.familiar(read) <= _FAMILIAR:
        return why  # no code, and words the corpus hardly uses: nothing to compare with
    found = model.closest(read)
    if found is None:
        return why
    name, probability = found
    if probability < (_RESEMBLE_AT if kind is None else _RESEMBLE_OVER):
        return why
    category = Category(name)
    reading = cat.readings.get(category)
    if (
        reading is None
        or category is why.category
        or category in _NEGATIVE
        or category in (Category.OTHER, Category.ACCEPTED)
    ):
        return why
    labels = _digits()["evidence"][why.lang]
    said = labels["resembles"].format(said=f"{probability:.2f}")
    before = f" → {why.category}"
    rest = tuple(f"{e} ({labels['outweighed']})" if e.endswith(before) else e for e in why.evidence)
    words = reading.text(why.lang)
    permanent = _permanent(why.code, why.enhanced_code or (codes[0] if codes else None), reading)
    return replace(
        why,
        category=category,
        permanent=permanent if permanent is not None else why.permanent,
        meaning=labels["resembles_meaning"].format(meaning=words.meaning),
        action=words.action,
        who=reading.who,
        rule=f"resembles:{category}",
        known=True,
        confidence=round(_RESEMBLANCE_CAP * probability, 2),
        evidence=(f"{said} → {category}", *rest)[:6],
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
            confidence=0.0,
            evidence=(digits["evidence"][lang]["nothing"],),
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
        confidence=1.0 if first in (1, 2, 3) else 0.1,
        evidence=(f"{digits['evidence'][lang]['digits'].format(said=shown)} → {category}",),
    )


def explain_reply(reply: Reply, stage: Stage | None = None, lang: str = "en") -> Explanation:
    """Explain a reply received during a dialogue, at the stage it answered."""
    return explain(reply.code, reply.text, enhanced=reply.enhanced, stage=stage, lang=lang)


def _no_class(lang: str) -> str:
    from prober.output.messages import message

    return message("digit_no_class", lang)


def explain_text(pasted: str, lang: str = "en", stage: Stage | None = None) -> Explanation:
    """Explain what a person pasted: ``550``, ``5.1.1``, or a reply copied from a log."""
    cleaned = _CODE_COLON.sub(r"\1 ", _LEADING_ADDRESS.sub("", pasted)).strip()
    lines = [line.strip() for line in cleaned.splitlines() if line.strip()]
    if len(lines) > 1 and not any(_CODE_LINE.match(line) for line in lines):
        # A log line wrapped by a mail client ("said: 421\n4.7.0 [TSS04] …"): one line.
        cleaned = " ".join(lines)
    parsed = parse_pasted(cleaned)
    text = parsed.text
    if parsed.code is not None:
        # Words before the code on its line ("RELAYING NOT ALLOWED (550 Relay Disabled)",
        # "host … refused to talk to me: 554 …") are part of what was said.
        line = next((x for x in cleaned.splitlines() if re.search(rf"\b{parsed.code}[ -]", x)), "")
        head = re.split(rf"\b{parsed.code}[ -]", line, maxsplit=1)[0].strip(" \t(:;-")
        if re.search(r"[A-Za-z]{3}", head) and head not in text:
            text = f"{head} {text}".strip()
    return explain(parsed.code, text, enhanced=parsed.enhanced, stage=stage, lang=lang)


# "550: 5.1.1 <a@b>... User Unknown", as some bounces print a reply.
_CODE_COLON = re.compile(r"^([2-5][0-9]{2}):[ \t]", re.MULTILINE)
_CODE_LINE = re.compile(r"^[2-5][0-9]{2}(?:[ -]|$)")


# An IPv4 address opening a line of a pasted bounce ("192.0.2.225 does not like
# recipient. Remote host said: 550 …"): its last number is not a reply code.
_LEADING_ADDRESS = re.compile(r"^[ \t]*[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b", re.MULTILINE)


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
        confidence=1.0,
        evidence=(
            f"{_digits()['evidence'][lang]['event'].format(said=event)} → {reading.category}",
        ),
    )
