"""Text rendering of results (pure: values in, strings out).

JSON output is not built here: it is each result type's ``to_dict()``, so the JSON and
the types cannot drift apart. This module only lays results out for people.

Every field that came from outside (replies, host names, addresses, DNS details,
certificate problems) goes through :func:`prober.output.terminal.safe` before it is laid
out and before any colour code is added, so the transcript is safe on a terminal even
in colour.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Protocol

from prober.explanation.explain import Explanation, why_we_think_so
from prober.output.messages import count_of, message, translated
from prober.output.terminal import safe, safe_block
from prober.resolve.mx import MXResult
from prober.results import Attempt, Flags, ProbeResult, Step

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
    return message(key, lang)


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=indent, subsequent_indent=indent) or [indent]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def event_title(rule: str, lang: str) -> str:
    """The heading of a client-side event's explanation: its name in ``lang``."""
    event = rule.removeprefix("event:").removeprefix("local:")
    try:
        return message(f"event_{event}", lang)
    except KeyError:
        return event


def explanation_text(why: Explanation, indent: str = "") -> str:
    """An explanation as a paragraph: heading, meaning, what to do, who acts."""
    lang = why.lang
    head: list[str] = []
    if why.code is not None:
        head.append(str(why.code))
    if why.enhanced_code:
        head.append(why.enhanced_code)
    title = " ".join(head) or event_title(why.rule, lang)
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
    client_side = why.rule.startswith(("event:", "local:")) or why.code in (101, 111)
    if why.text:
        said = _t(lang, "happened" if client_side else "server")
        text = translated(why.text, lang) if client_side else why.text
        lines += _wrap(f"{said}: {text}", indent + "  ")
    lines += _wrap(why.meaning, indent + "  ")
    if why.action:
        lines += _wrap(f"{_t(lang, 'todo')}: {why.action}", indent + "  ")
    lines += _wrap(
        f"{_t(lang, 'who')}: {_t(lang, 'who_' + str(why.who))} ({_t(lang, 'rule')}: {why.rule})",
        indent + "  ",
    )
    if why.evidence:
        lines += _wrap(why_we_think_so(why), indent + "  ")
    return safe_block("\n".join(lines))


def _step_lines(step: Step, lang: str, verbose: bool, colour: bool) -> list[str]:
    stamp = f"{step.started:8.3f}s"
    lines: list[str] = []
    what = f"{step.stage.value.upper():<9}"
    timing = _ms(step.elapsed)
    if step.sent is not None:
        note = f"   [{safe(step.note)}]" if step.note else ""
        lines.append(f"{stamp}  {what} > {safe(step.sent)}{note}")
        stamp, what = " " * len(stamp), " " * len(what)
    if step.reply is not None:
        reply_lines = str(step.reply).splitlines()
        shown = reply_lines if verbose or len(reply_lines) <= 4 else [*reply_lines[:3], "  …"]
        for i, line in enumerate(shown):
            suffix = f"   ({timing})" if i == len(shown) - 1 else ""
            lines.append(f"{stamp}  {what} < {safe(line)}{suffix}")
            stamp, what = " " * len(stamp), " " * len(what)
    else:
        detail = safe(translated(step.explanation.text, lang) or step.event or "")
        mark = "=" if step.event == "connected" else paint("!", "red", colour)
        lines.append(f"{stamp}  {what} {mark} {detail}   ({timing})")
    why = step.explanation
    failed = why.permanent is not None and why.category != "accepted"
    pad = " " * 22
    if step.note and not verbose:
        # A side question (the catch-all RCPT): its answer matters only as a yes or no.
        lines += _wrap(safe(why.meaning), pad)
    elif failed or verbose:
        lines.append(paint(explanation_text(why, pad), "bold", colour and failed))
    elif step.reply is not None or step.event == "connected":
        lines += _wrap(safe(why.meaning), pad)
    return lines


def attempt_text(attempt: Attempt, lang: str, verbose: bool = False, colour: bool = False) -> str:
    host = safe(attempt.host)
    head = f"{host} [{safe(attempt.address)}]:{attempt.port}" if attempt.address else host
    lines = [head]
    if attempt.tls is not None:
        verified = _t(lang, "tls_verified" if attempt.tls.verified else "tls_not_verified")
        lines.append(
            f"  {_t(lang, 'tls')}: {safe(f'{attempt.tls.version} {attempt.tls.cipher}')} "
            f"({verified})"
        )
    if attempt.tls_problem:
        lines.append(f"  {_t(lang, 'tls_problem')}: {safe(attempt.tls_problem)}")
    for step in attempt.steps:
        lines += _step_lines(step, lang, verbose, colour)
    return "\n".join(lines)


def flags_text(flags: Flags, lang: str, normalized: str | None = None) -> list[str]:
    """The flags as lines for people: what the address is, who receives it, a typo hint."""
    lines: list[str] = []
    found: list[str] = []
    if flags.disposable:
        found.append(_t(lang, "disposable"))
    if flags.role:
        found.append(f"{_t(lang, 'role')} ({flags.role_name})")
    if flags.free_provider:
        found.append(_t(lang, "free_provider"))
    if found:
        lines.append(f"{_t(lang, 'flags')}: {', '.join(found)}")
    if flags.provider_name:
        how = _t(lang, "from_mx" if flags.provider_from == "mx" else "from_domain")
        lines.append(f"{_t(lang, 'provider')}: {flags.provider_name} ({how})")
    if flags.normalized_provider and flags.normalized_provider != normalized:
        lines.append(f"{_t(lang, 'normalized_provider')}: {flags.normalized_provider}")
    if flags.suggestion:
        lines.append(f"{_t(lang, 'suggestion')}: {flags.suggestion}?")
    return lines


def flags_brief(flags: Flags | None) -> str:
    """The flags in a few words, for one-line list output ("" when there are none)."""
    if flags is None:
        return ""
    words: list[str] = []
    if flags.disposable:
        words.append("disposable")
    if flags.role:
        words.append(f"role:{flags.role_name}")
    if flags.free_provider:
        words.append("free")
    if flags.provider:
        words.append(f"provider:{flags.provider}")
    if flags.suggestion:
        words.append(f"suggest:{flags.suggestion}")
    return f"[{' '.join(words)}]" if words else ""


def verdict_line(result: ProbeResult, lang: str = "en", colour: bool = False) -> str:
    """The one line ``probe -q`` prints: address, verdict, reason."""
    verdict = paint(result.verdict.value.upper(), _VERDICT_COLOURS[result.verdict.value], colour)
    if lang != "en":
        word = message(f"verdict_{result.verdict.value}", lang).upper()
        verdict = paint(word, _VERDICT_COLOURS[result.verdict.value], colour)
    return f"{safe(result.address)}: {verdict} ({reason_text(str(result.reason), lang)})"


def reason_text(reason: str, lang: str) -> str:
    """A reason as words in ``lang`` (its identifier in English, as JSON has it)."""
    if lang == "en":
        return reason
    try:
        return message(f"reason_{reason}", lang)
    except KeyError:
        return reason


def forward_to(result: ProbeResult) -> str | None:
    return result.forward_to


def _verdict_lines(result: ProbeResult, lang: str, colour: bool) -> list[str]:
    """The verdict, its summary, hints and flags, and the reply it rests on."""
    lines = [verdict_line(result, lang, colour)]
    lines += _wrap(safe(translated(result.summary, lang)), "  ")
    forward = forward_to(result)
    if forward is not None:
        lines.append(f"  {_t(lang, 'forward_to')}: {safe(forward)}")
    if result.retry_after is not None:
        lines.append(f"  {_t(lang, 'retry')}: {result.retry_after} s")
    for warning in result.warnings:
        lines += _wrap(f"{_t(lang, 'warning')}: {safe(warning)}", "  ")
    if result.flags is not None:
        for line in flags_text(result.flags, lang, result.normalized):
            lines += _wrap(safe(line), "  ")
    if result.explanation is not None:
        lines.append("")
        lines.append(explanation_text(result.explanation, "  "))
    return lines


def result_text(
    result: ProbeResult, lang: str = "en", verbose: bool = False, colour: bool = False
) -> str:
    """The transcript a support engineer reads: verdict first, then every step explained."""
    lines = _verdict_lines(result, lang, colour)
    if result.mx is not None:
        lines.append("")
        lines.append(mx_block(result.mx, lang))
    for attempt in result.attempts:
        lines.append("")
        lines.append(attempt_text(attempt, lang, verbose, colour))
    lines.append("")
    lines.append(f"{_t(lang, 'elapsed')}: {_ms(result.elapsed)}")
    return "\n".join(lines)


def result_head(result: ProbeResult, lang: str = "en", colour: bool = False) -> str:
    """What follows a live transcript: the verdict, the summary, the deciding reply."""
    lines = _verdict_lines(result, lang, colour)
    tls = [a for a in result.attempts if a.tls is not None or a.tls_problem]
    if tls:
        lines.append("")
    for attempt in tls:
        # The live transcript showed the steps; the TLS outcome is known only now.
        if attempt.tls is not None:
            verified = _t(lang, "tls_verified" if attempt.tls.verified else "tls_not_verified")
            lines.append(
                f"{safe(attempt.host)}: {_t(lang, 'tls')} "
                f"{safe(f'{attempt.tls.version} {attempt.tls.cipher}')} ({verified})"
            )
        if attempt.tls_problem:
            lines.append(
                f"{safe(attempt.host)}: {_t(lang, 'tls_problem')}: {safe(attempt.tls_problem)}"
            )
    lines.append("")
    lines.append(f"{_t(lang, 'elapsed')}: {_ms(result.elapsed)}")
    return "\n".join(lines)


def mx_block(mx: MXResult, lang: str) -> str:
    """The MX block of a transcript."""
    lines = _wrap(f"{_t(lang, 'mx')}: {safe(translated(mx.detail, lang))}", "")
    for host in mx.hosts:
        addresses = ", ".join(host.addresses) or (host.error or "")
        lines.append(f"  {host.preference:>5}  {safe(host.name)}  {safe(addresses)}")
    return "\n".join(lines)


def step_text(step: Step, lang: str, verbose: bool = False, colour: bool = False) -> str:
    """One step of a transcript, as the live transcript prints it when it completes."""
    return "\n".join(_step_lines(step, lang, verbose, colour))


class Tallied(Protocol):
    """What a list run counted (``prober.engine.bulk.Tally``)."""

    @property
    def verdicts(self) -> Mapping[str, int]: ...
    @property
    def reasons(self) -> Mapping[str, int]: ...
    @property
    def probed(self) -> int: ...
    @property
    def blank(self) -> int: ...
    @property
    def missing(self) -> int: ...
    @property
    def resumed(self) -> int: ...
    @property
    def results(self) -> int: ...

    def top_refusing(self) -> list[tuple[str, int]]: ...


def list_summary(tally: Tallied, lang: str, seconds: float) -> str:
    """The lines printed on standard error when a list run ends."""
    verdicts = ("deliverable", "undeliverable", "risky", "unknown")
    counts = ", ".join(
        count_of(v, tally.verdicts.get(v, 0), lang) for v in verdicts if tally.verdicts.get(v, 0)
    )
    key = "summary_one_result" if tally.results == 1 else "summary_results"
    head = message(
        key, lang, results=tally.results, distinct=tally.probed, seconds=f"{seconds:.1f}"
    )
    lines = [head + (f": {counts}." if counts else ".")]
    if tally.reasons:
        ranked = sorted(tally.reasons.items(), key=lambda kv: -kv[1])[:5]
        top = ", ".join(f"{reason_text(r, lang)} {n}" for r, n in ranked)
        lines.append(message("summary_top", lang, reasons=top))
    refusing = tally.top_refusing()
    if refusing:
        worst = ", ".join(f"{d} ({n})" for d, n in refusing)
        lines.append(message("summary_refusing", lang, domains=worst))
    skipped = []
    if tally.resumed:
        skipped.append(message("summary_resumed", lang, count=tally.resumed))
    if tally.blank:
        key = "summary_one_blank" if tally.blank == 1 else "summary_blank"
        skipped.append(message(key, lang, count=tally.blank))
    if tally.missing:
        skipped.append(message("summary_missing", lang, count=tally.missing))
    if skipped:
        lines.append(message("summary_skipped", lang, what="; ".join(skipped)))
    if not tally.results and not tally.resumed and not tally.missing:
        lines.append(message("summary_empty", lang))
    return "\n".join(lines)
