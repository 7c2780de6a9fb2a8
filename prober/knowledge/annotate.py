"""Flags for a finished result, and the verdict policy that reads them (pure).

:func:`annotate` is applied to every result as it leaves the engine: it computes the
:class:`~prober.results.Flags` from the address, its MX hosts and the packaged lists, and
lets the :class:`~prober.knowledge.policy.Policy` turn a deliverable answer that proves
little (a disposable domain, a provider that accepts every address) into a risky one.
Applying it twice gives the same result.
"""

from __future__ import annotations

from dataclasses import replace

from prober.engine.verdict import Reason, Verdict, summary, verdict_of
from prober.knowledge.data import (
    Provider,
    disposable_domains,
    free_domains,
    provider_by_domain,
    provider_by_id,
    providers,
    role_names,
)
from prober.knowledge.policy import DEFAULT_POLICY, RISKY, Policy
from prober.knowledge.typos import suggest_domain
from prober.resolve.mx import MXResult
from prober.results import Flags, ProbeResult


def _ascii(domain: str) -> str:
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def _split(result: ProbeResult) -> tuple[str, str] | None:
    text = result.normalized or result.address
    local, at, domain = text.strip().rpartition("@")
    if not at or not local:
        return None
    return local, domain.lower().rstrip(".")


def is_disposable(domain: str, policy: Policy = DEFAULT_POLICY) -> bool:
    """The domain, or a domain it sits under, is a known disposable mail service."""
    listed = disposable_domains()
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in policy.not_disposable:
            return False
        if candidate in listed or candidate in policy.extra_disposable:
            return True
    return False


def is_free(domain: str, policy: Policy = DEFAULT_POLICY) -> bool:
    if domain in policy.not_free:
        return False
    return domain in policy.extra_free or domain in free_domains()


def role_of(local: str, policy: Policy = DEFAULT_POLICY) -> str | None:
    """The role the local part names ("info", "no-reply" …), ignoring a +tag, or None."""
    base = local.lower().split("+", 1)[0] or local.lower()
    if base in policy.not_roles:
        return None
    if base in policy.extra_roles or base in role_names():
        return base
    return None


def provider_of(domain: str, mx: MXResult | None) -> tuple[Provider, str] | None:
    """Who receives the domain's mail, and how that was recognised ("domain" or "mx")."""
    found = provider_by_domain().get(domain)
    if found is not None:
        return found, "domain"
    if mx is None:
        return None
    for host in mx.hosts:
        name = host.name.lower().rstrip(".")
        for provider in providers():
            if provider.matches_mx(name):
                return provider, "mx"
    return None


def normalized_for(local: str, domain: str, provider: Provider) -> str | None:
    """The mailbox as ``provider`` reads it: +tag dropped, dots dropped where ignored."""
    if local.startswith('"'):
        return None  # a quoted local part is taken literally
    if not provider.plus_tags and domain not in provider.dots_ignored:
        return None
    base = local
    if provider.plus_tags and "+" in base[1:]:
        base = base.split("+", 1)[0]
    if domain in provider.dots_ignored:
        base = base.replace(".", "").lower()
    return f"{base}@{domain}"


def flags_of(result: ProbeResult, policy: Policy = DEFAULT_POLICY) -> Flags:
    """The flags of ``result``, from its address and MX hosts alone (no I/O)."""
    parts = _split(result)
    if parts is None:
        return Flags()
    local, domain = parts
    if domain.startswith("["):
        return Flags(role_name=role_of(local, policy), role=role_of(local, policy) is not None)
    ascii_domain = result.mx.domain if result.mx is not None else _ascii(domain)
    suggestion = None
    if "@" not in local and not any(c.isspace() for c in local):
        meant = suggest_domain(ascii_domain, result.mx)
        if meant is not None:
            suggestion = f"{local}@{meant}"
    if result.reason is Reason.SYNTAX:
        # Only the suggestion means something for text that is not an address.
        return Flags(suggestion=suggestion)
    role = role_of(local, policy)
    known = provider_of(ascii_domain, result.mx)
    provider, how = known if known is not None else (None, None)
    return Flags(
        disposable=is_disposable(ascii_domain, policy),
        role=role is not None,
        role_name=role,
        free_provider=is_free(ascii_domain, policy),
        provider=None if provider is None else provider.id,
        provider_name=None if provider is None else provider.name,
        provider_from=how,
        suggestion=suggestion,
        normalized_provider=None if provider is None else normalized_for(local, domain, provider),
    )


def _lang(result: ProbeResult, lang: str | None) -> str:
    if lang is not None:
        return lang
    return result.explanation.lang if result.explanation is not None else "en"


def _accepts_all(result: ProbeResult, provider: Provider | None) -> bool:
    if provider is None or provider.accept_all is None:
        return False
    if result.reason is Reason.CATCH_ALL:
        return True
    if result.reason is not Reason.ACCEPTED:
        return False
    # "unless_refused": a tenant that refused the random address checks its recipients.
    return provider.accept_all == "always" or result.catch_all is not False


def annotate(
    result: ProbeResult, policy: Policy = DEFAULT_POLICY, *, lang: str | None = None
) -> ProbeResult:
    """``result`` with its flags, and its verdict as the policy reads them."""
    flags = flags_of(result, policy)
    reason, extra = _policy_reason(result, flags, policy, _lang(result, lang))
    if reason is None:
        return replace(result, flags=flags)
    text = summary(reason, _lang(result, lang))
    return replace(
        result,
        flags=flags,
        verdict=verdict_of(reason),
        reason=reason,
        summary=f"{text} {extra}".strip(),
    )


def _policy_reason(
    result: ProbeResult, flags: Flags, policy: Policy, lang: str
) -> tuple[Reason | None, str]:
    """The reason the policy puts in place of the result's, with a sentence to add."""
    provider = provider_by_id().get(flags.provider) if flags.provider else None
    if policy.accept_all_provider == RISKY and _accepts_all(result, provider):
        assert provider is not None
        behaviour = provider.behaviour.get(lang) or provider.behaviour["en"]
        return Reason.ACCEPT_ALL_PROVIDER, behaviour
    if result.verdict is not Verdict.DELIVERABLE and result.reason is not Reason.OFFLINE:
        return None, ""
    for risky, reason in (
        (flags.disposable and policy.disposable == RISKY, Reason.DISPOSABLE),
        (flags.role and policy.role == RISKY, Reason.ROLE_ACCOUNT),
        (flags.free_provider and policy.free_provider == RISKY, Reason.FREE_PROVIDER),
    ):
        if risky:
            return reason, ""
    return None, ""
