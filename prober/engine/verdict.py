"""Attempts → verdict and reason (pure).

The verdict reads each reply's diagnosis *category* (from the catalogue), never the bare
code: a 550 5.1.1 and a 550 "blocked using zen.spamhaus.org" are both 550, but only the
first says anything about the mailbox.
"""

from __future__ import annotations

import enum
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Any

from prober.explanation.catalogue import Category, Stage, Who
from prober.explanation.explain import Explanation, explain_reply
from prober.smtp.reply import Reply


class Verdict(enum.StrEnum):
    DELIVERABLE = "deliverable"
    UNDELIVERABLE = "undeliverable"
    RISKY = "risky"
    UNKNOWN = "unknown"


class Reason(enum.StrEnum):
    """Why the verdict is what it is (the machine-readable ``reason``)."""

    ACCEPTED = "accepted"
    CATCH_ALL = "catch_all"
    CANNOT_VERIFY = "cannot_verify"
    MAILBOX_FULL = "mailbox_full"
    SYNTAX = "syntax"
    NO_DOMAIN = "no_domain"
    NULL_MX = "null_mx"
    NO_MAIL_HOSTS = "no_mail_hosts"
    MAILBOX_UNKNOWN = "mailbox_unknown"
    MAILBOX_DISABLED = "mailbox_disabled"
    DOMAIN_UNKNOWN = "domain_unknown"
    RELAY_DENIED = "relay_denied"
    SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
    BLOCKED = "blocked"
    RATE_LIMITED = "rate_limited"
    GREYLISTED = "greylisted"
    AUTH_REQUIRED = "auth_required"
    TLS_REQUIRED = "tls_required"
    SENDER_REFUSED = "sender_refused"
    TEMPORARY_FAILURE = "temporary_failure"
    REJECTED = "rejected"
    DNS_TEMPORARY = "dns_temporary"
    NO_CONNECTION = "no_connection"
    SERVER_UNAVAILABLE = "server_unavailable"
    PROTOCOL_ERROR = "protocol_error"
    PRIVATE_ADDRESS = "private_address"
    DEADLINE = "deadline"
    # From prober.knowledge: what the address and its provider are, beside the dialogue.
    ACCEPT_ALL_PROVIDER = "accept_all_provider"
    DISPOSABLE = "disposable"
    ROLE_ACCOUNT = "role_account"
    FREE_PROVIDER = "free_provider"
    OFFLINE = "offline"


@cache
def _table() -> Mapping[str, Any]:
    data = resources.files("prober").joinpath("data").joinpath("verdicts.toml")
    table: Mapping[str, Any] = tomllib.loads(data.read_text(encoding="utf-8"))["reason"]
    return table


def verdict_of(reason: Reason) -> Verdict:
    return Verdict(_table()[str(reason)]["verdict"])


def summary(reason: Reason, lang: str = "en", retry_after: int | None = None) -> str:
    entry = _table()[str(reason)]
    text: str = entry.get(lang) or entry["en"]
    if retry_after is not None:
        retry = f" (after {retry_after} s)" if lang != "it" else f" (dopo {retry_after} s)"
    else:
        retry = ""
    return text.replace("{retry}", retry)


_BLOCKED = {
    Category.BLOCKED_IP_REPUTATION,
    Category.BLOCKED_SPAM_CONTENT,
    Category.POLICY_SPF_DKIM_DMARC,
}

_RETRY = re.compile(r"([0-9]{1,5})\s*(seconds?|secs?|s\b|minutes?|mins?|m\b)", re.IGNORECASE)


def retry_hint(text: str) -> int | None:
    """Seconds a greylisting server asks us to wait ("try again in 5 minutes")."""
    match = _RETRY.search(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value * 60 if match.group(2).lower().startswith("m") else value


# A refusal says the address is bad only when its reading is at least of medium
# confidence; weaker evidence of a missing mailbox leaves the verdict unknown.
DEFINITE_CONFIDENCE = 0.5


def _category_reason(category: Category, permanent: bool) -> Reason:
    """The reason implied by a refusal's category (a RCPT or MAIL refusal)."""
    if category in _BLOCKED:
        return Reason.BLOCKED
    simple = {
        Category.RATE_LIMITED: Reason.RATE_LIMITED,
        Category.GREYLISTED: Reason.GREYLISTED,
        Category.AUTH_REQUIRED: Reason.AUTH_REQUIRED,
        Category.TLS_REQUIRED: Reason.TLS_REQUIRED,
        Category.MAILBOX_FULL: Reason.MAILBOX_FULL,
        Category.SERVER_UNAVAILABLE: Reason.SERVER_UNAVAILABLE,
        # A downstream failure reported by the server we talk to: nothing about the mailbox.
        Category.REMOTE_UNREACHABLE: Reason.SERVER_UNAVAILABLE,
        Category.DELIVERY_EXPIRED: Reason.TEMPORARY_FAILURE,
    }
    if category in simple:
        return simple[category]
    return Reason.REJECTED if permanent else Reason.TEMPORARY_FAILURE


@dataclass(frozen=True, slots=True)
class Decision:
    reason: Reason
    deciding: Explanation | None  # the reply (or event) the decision rests on
    catch_all: bool | None = None
    retry_after: int | None = None

    @property
    def verdict(self) -> Verdict:
        return verdict_of(self.reason)


def decide_rcpt(target: Reply, catch_all_reply: Reply | None, lang: str = "en") -> Decision:
    """The decision from the server's answer to RCPT for the target (and the catch-all probe)."""
    why = explain_reply(target, Stage.RCPT, lang)
    if target.code // 100 == 2:
        catch_all: bool | None = None
        if catch_all_reply is not None:
            catch_all = catch_all_reply.code // 100 == 2
            if not catch_all and catch_all_reply.code // 100 == 4:
                catch_all = None  # a temporary refusal of the random address proves nothing
        if target.code == 252:
            return Decision(Reason.CANNOT_VERIFY, why, catch_all)
        if catch_all:
            return Decision(Reason.CATCH_ALL, why, True)
        return Decision(Reason.ACCEPTED, why, catch_all)
    category = why.category
    if target.code // 100 == 5:
        definite = {
            Category.MAILBOX_UNKNOWN: Reason.MAILBOX_UNKNOWN,
            Category.MAILBOX_DISABLED: Reason.MAILBOX_DISABLED,
            Category.DOMAIN_UNKNOWN: Reason.DOMAIN_UNKNOWN,
            Category.RELAY_DENIED: Reason.RELAY_DENIED,
        }
        if category is Category.RELAY_DENIED and why.confidence >= DEFINITE_CONFIDENCE:
            # Read in a bounce, "relaying denied" is usually the sender's own server
            # refusing an unauthenticated client. Here it is the domain's own MX refusing
            # mail for its domain: only the domain's administrator can fix that.
            return Decision(Reason.RELAY_DENIED, replace(why, who=Who.RECIPIENT_ADMIN))
        if category in definite and why.confidence >= DEFINITE_CONFIDENCE:
            return Decision(definite[category], why)
        if category is Category.SYNTAX_ERROR and target.enhanced == "5.1.3":
            return Decision(Reason.SYNTAX, why)
        return Decision(_category_reason(category, True), why)
    reason = _category_reason(category, False)
    retry = retry_hint(target.text) if reason is Reason.GREYLISTED else None
    return Decision(reason, why, retry_after=retry)


_EVENT_REASONS = {
    "refused": Reason.NO_CONNECTION,
    "unreachable": Reason.NO_CONNECTION,
    "connect_timeout": Reason.NO_CONNECTION,
    "proxy": Reason.NO_CONNECTION,
    "timeout": Reason.SERVER_UNAVAILABLE,
    "closed": Reason.SERVER_UNAVAILABLE,
    "tls": Reason.SERVER_UNAVAILABLE,
    "protocol": Reason.PROTOCOL_ERROR,
    "guard": Reason.PRIVATE_ADDRESS,
    "deadline": Reason.DEADLINE,
    "smtputf8": Reason.SMTPUTF8_UNSUPPORTED,
    "no_address": Reason.NO_CONNECTION,
}


@dataclass(frozen=True, slots=True)
class Failure:
    """How one attempt ended without a RCPT answer for the target, for :func:`decide_failures`."""

    kind: str  # an event id ("refused", "timeout", "guard" …) or "banner" / "mail"
    explanation: Explanation
    reply: Reply | None = None


def decide_failures(failures: Sequence[Failure]) -> Decision:
    """The decision when no attempt got a RCPT answer: the most telling failure wins.

    A reply from a server (its refusal of our sender, its greeting) says more than a
    connection that never opened, so replies rank first, then the last event.
    """
    for kind in ("mail", "banner"):
        for failure in failures:
            if failure.kind != kind or failure.reply is None:
                continue
            category = failure.explanation.category
            permanent = failure.reply.code // 100 == 5
            if (
                kind == "mail"
                and category not in _BLOCKED
                and category
                not in (
                    Category.RATE_LIMITED,
                    Category.GREYLISTED,
                    Category.AUTH_REQUIRED,
                    Category.TLS_REQUIRED,
                )
            ):
                return Decision(Reason.SENDER_REFUSED, failure.explanation)
            reason = _category_reason(category, permanent)
            if reason in (Reason.REJECTED, Reason.TEMPORARY_FAILURE):
                reason = Reason.SERVER_UNAVAILABLE
            retry = retry_hint(failure.reply.text) if reason is Reason.GREYLISTED else None
            return Decision(reason, failure.explanation, retry_after=retry)
    for event in ("smtputf8", "deadline", "protocol", "timeout", "closed", "tls"):
        for failure in failures:
            if failure.kind == event:
                return Decision(_EVENT_REASONS[event], failure.explanation)
    if failures and all(f.kind == "guard" for f in failures):
        return Decision(Reason.PRIVATE_ADDRESS, failures[0].explanation)
    connection = [f for f in failures if f.kind != "guard"]
    if connection:
        last = connection[-1]
        return Decision(_EVENT_REASONS.get(last.kind, Reason.NO_CONNECTION), last.explanation)
    return Decision(Reason.NO_CONNECTION, None)
