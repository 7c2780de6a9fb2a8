"""Checking without the network: syntax and the packaged knowledge only.

:func:`check_offline` sends no DNS query and opens no connection; it answers in a few
tens of microseconds, so it suits a sign-up form or a first pass over a long list.
:func:`run_offline_list` is list mode's counterpart (same input, output and resume).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import BinaryIO, TextIO

from prober.address import parse_address
from prober.engine.verdict import Reason, Verdict, summary
from prober.errors import AddressError
from prober.knowledge.annotate import annotate
from prober.knowledge.policy import DEFAULT_POLICY, Policy
from prober.output.listio import Entry
from prober.results import ProbeOptions, ProbeResult


def check_offline(address: str, policy: Policy | None = None, *, lang: str = "en") -> ProbeResult:
    """Syntax and knowledge for ``address``, with no DNS and no SMTP.

    A well-formed address gets the verdict ``unknown`` (reason ``offline``) unless the
    policy makes one of its flags risky (a disposable domain, by default); a malformed
    one is ``undeliverable``/``syntax`` as in a probe. The flags — disposable, role,
    free provider, the provider its domain belongs to, a typo suggestion when the
    domain cannot exist — are filled in either way.
    """
    policy = policy if policy is not None else DEFAULT_POLICY
    began = time.perf_counter()
    try:
        parsed = parse_address(address)
    except AddressError as exc:
        from prober.engine.plan import syntax_result  # the engine imports this package

        result = annotate(syntax_result(address, exc, lang, 0.0), policy, lang=lang)
        return _timed(result, began)
    result = ProbeResult(
        address=address,
        normalized=parsed.normalized,
        verdict=Verdict.UNKNOWN,
        reason=Reason.OFFLINE,
        summary=summary(Reason.OFFLINE, lang),
        explanation=None,
        catch_all=None,
        retry_after=None,
        mx=None,
        attempts=(),
        elapsed=0.0,
        warnings=parsed.warnings,
    )
    return _timed(annotate(result, policy, lang=lang), began)


def _timed(result: ProbeResult, began: float) -> ProbeResult:
    return replace(result, elapsed=time.perf_counter() - began)


def run_offline_list(
    addresses: list[str],
    file: str | None,
    *,
    output_format: str,
    output: str | None,
    resume: bool,
    column: str | None,
    quiet: bool,
    policy: Policy | None,
    lang: str,
    stdout: TextIO,
    stderr: TextIO,
    stdin: BinaryIO | None = None,
) -> int:
    """:func:`check_offline` over a list, through list mode's reader and writer (the same
    CSV round trip, order, resume and file safety); the exit statuses of list mode."""
    from prober.engine.bulk import ListOptions, run_list

    options = ListOptions(
        probe=ProbeOptions(lang=lang, knowledge=policy),
        format=output_format,
        output=output,
        resume=resume,
        column=column,
        quiet=quiet,
        csv_input=column is not None,
        offline=True,
    )
    return run_list(addresses, file, options, stdout=stdout, stderr=stderr, stdin=stdin)


def check_entry_offline(entry: Entry, options: ProbeOptions) -> ProbeResult:
    """One list entry, offline: its syntax refusal, or :func:`check_offline`."""
    from prober.engine.plan import syntax_result

    if entry.problem is not None:
        error = AddressError(entry.text, entry.problem)
        result = syntax_result(entry.text, error, options.lang, 0.0)
        return annotate(result, options.knowledge or DEFAULT_POLICY, lang=options.lang)
    return check_offline(entry.text, options.knowledge, lang=options.lang)
