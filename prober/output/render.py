"""Text rendering of results (pure: values in, strings out).

JSON output is not built here: it is each result type's ``to_dict()``, so the JSON and
the types cannot drift apart. This module only lays results out for people.
"""

from __future__ import annotations

import textwrap

from prober.explanation.explain import Explanation, why_we_think_so
from prober.results import Attempt, ProbeResult, Step

_LABELS = {
    "en": {
        "permanent": "permanent",
        "temporary": "temporary",
        "todo": "What to do",
        "who": "Who acts",
        "server": "Server said",
        "happened": "What happened",
        "mx": "MX",
        "rule": "matched",
        "unknown_code": "unknown code",
        "nonstandard": "non-standard",
        "catch_all": "catch-all",
        "tls": "TLS",
        "tls_problem": "certificate problem",
        "retry": "retry after",
        "elapsed": "took",
        "warning": "warning",
        "who_sender": "the sender",
        "who_sender_admin": "the sender's mail administrator",
        "who_recipient": "the recipient",
        "who_recipient_admin": "the recipient's mail administrator",
        "who_nobody": "nobody",
    },
    "it": {
        "permanent": "permanente",
        "temporary": "temporaneo",
        "todo": "Cosa fare",
        "who": "Chi interviene",
        "server": "Il server ha detto",
        "happened": "Cosa è successo",
        "mx": "MX",
        "rule": "regola",
        "unknown_code": "codice sconosciuto",
        "nonstandard": "non standard",
        "catch_all": "catch-all",
        "tls": "TLS",
        "tls_problem": "problema di certificato",
        "retry": "riprovare dopo",
        "elapsed": "durata",
        "warning": "attenzione",
        "who_sender": "il mittente",
        "who_sender_admin": "l’amministratore della posta del mittente",
        "who_recipient": "il destinatario",
        "who_recipient_admin": "l’amministratore della posta del destinatario",
        "who_nobody": "nessuno",
    },
}

_WIDTH = 96

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "magenta": "35", "bold": "1", "dim": "2"}
_VERDICT_COLOURS = {
    "deliverable": "green",
    "undeliverable": "red",
    "risky": "yellow",
    "unknown": "magenta",
}


def paint(text: str, colour: str, on: bool) -> str:
    """``text`` in an ANSI colour when ``on`` (a terminal), unchanged otherwise."""
    return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m" if on else text


def _t(lang: str, key: str) -> str:
    return _LABELS.get(lang, _LABELS["en"])[key]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=indent) or [indent]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def explanation_text(why: Explanation, indent: str = "") -> str:
    """An explanation as a paragraph: heading, meaning, what to do, who acts."""
    lang = why.lang
    head: list[str] = []
    if why.code is not None:
        head.append(str(why.code))
    if why.enhanced_code:
        head.append(why.enhanced_code)
    title = " ".join(head) or why.rule.removeprefix("event:")
    if why.label:
        title = f"{title} {why.label}".strip()
    tags = [str(why.category)]
    if why.permanent is True:
        tags.append(_t(lang, "permanent"))
    elif why.permanent is False:
        tags.append(_t(lang, "temporary"))
    if why.standard is False:
        tags.append(_t(lang, "nonstandard"))
    if not why.known:
        tags.append(_t(lang, "unknown_code"))
    lines = [f"{indent}{title} [{', '.join(tags)}]".replace(" [", " [", 1).lstrip()]
    lines[0] = indent + lines[0].lstrip()
    client_side = why.rule.startswith("event:") or why.code in (101, 111)
    if why.text:
        said = _t(lang, "happened" if client_side else "server")
        lines += _wrap(f"{said}: {why.text}", indent + "  ")
    lines += _wrap(why.meaning, indent + "  ")
    if why.action:
        lines += _wrap(f"{_t(lang, 'todo')}: {why.action}", indent + "  ")
    lines += _wrap(
        f"{_t(lang, 'who')}: {_t(lang, 'who_' + str(why.who))} ({_t(lang, 'rule')}: {why.rule})",
        indent + "  ",
    )
    if why.evidence:
        lines += _wrap(why_we_think_so(why), indent + "  ")
    return "\n".join(lines)


def _step_lines(step: Step, lang: str, verbose: bool, colour: bool) -> list[str]:
    stamp = f"{step.started:8.3f}s"
    lines: list[str] = []
    what = f"{step.stage.value.upper():<9}"
    timing = _ms(step.elapsed)
    if step.sent is not None:
        note = f"   [{step.note}]" if step.note else ""
        lines.append(f"{stamp}  {what} > {step.sent}{note}")
        stamp, what = " " * len(stamp), " " * len(what)
    if step.reply is not None:
        reply_lines = str(step.reply).splitlines()
        shown = reply_lines if verbose or len(reply_lines) <= 4 else [*reply_lines[:3], "  …"]
        for i, line in enumerate(shown):
            suffix = f"   ({timing})" if i == len(shown) - 1 else ""
            lines.append(f"{stamp}  {what} < {line}{suffix}")
            stamp, what = " " * len(stamp), " " * len(what)
    else:
        detail = step.explanation.text or step.event or ""
        mark = "=" if step.event == "connected" else paint("!", "red", colour)
        lines.append(f"{stamp}  {what} {mark} {detail}   ({timing})")
    why = step.explanation
    failed = why.permanent is not None and why.category != "accepted"
    pad = " " * 22
    if step.note and not verbose:
        # A side question (the catch-all RCPT): its answer matters only as a yes or no.
        lines += _wrap(why.meaning, pad)
    elif failed or verbose:
        lines.append(paint(explanation_text(why, pad), "bold", colour and failed))
    elif step.reply is not None or step.event == "connected":
        lines += _wrap(why.meaning, pad)
    return lines


def attempt_text(attempt: Attempt, lang: str, verbose: bool = False, colour: bool = False) -> str:
    head = f"{attempt.host} [{attempt.address}]:{attempt.port}" if attempt.address else attempt.host
    lines = [head]
    if attempt.tls is not None:
        verified = "verified" if attempt.tls.verified else "not verified"
        lines.append(
            f"  {_t(lang, 'tls')}: {attempt.tls.version} {attempt.tls.cipher} ({verified})"
        )
    if attempt.tls_problem:
        lines.append(f"  {_t(lang, 'tls_problem')}: {attempt.tls_problem}")
    for step in attempt.steps:
        lines += _step_lines(step, lang, verbose, colour)
    return "\n".join(lines)


def result_text(
    result: ProbeResult, lang: str = "en", verbose: bool = False, colour: bool = False
) -> str:
    """The transcript a support engineer reads: verdict first, then every step explained."""
    verdict = paint(result.verdict.value.upper(), _VERDICT_COLOURS[result.verdict.value], colour)
    lines = [f"{result.address}: {verdict} ({result.reason.value})"]
    lines += _wrap(result.summary, "  ")
    if result.retry_after is not None:
        lines.append(f"  {_t(lang, 'retry')}: {result.retry_after} s")
    for warning in result.warnings:
        lines += _wrap(f"{_t(lang, 'warning')}: {warning}", "  ")
    if result.explanation is not None:
        lines.append("")
        lines.append(explanation_text(result.explanation, "  "))
    if result.mx is not None:
        lines.append("")
        lines += _wrap(f"{_t(lang, 'mx')}: {result.mx.detail}", "")
        for host in result.mx.hosts:
            addresses = ", ".join(host.addresses) or (host.error or "")
            lines.append(f"  {host.preference:>5}  {host.name}  {addresses}")
    for attempt in result.attempts:
        lines.append("")
        lines.append(attempt_text(attempt, lang, verbose, colour))
    lines.append("")
    lines.append(f"{_t(lang, 'elapsed')}: {_ms(result.elapsed)}")
    return "\n".join(lines)
