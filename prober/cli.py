"""The ``probe`` command line: parse, call the library, render, map to an exit status.

Thin on purpose: every decision lives in the library; this module only turns options
into option objects, results into text or JSON, and outcomes into :class:`ExitStatus`.
Known errors become one-line messages; ``--traceback`` shows the rest.

Layout: shared helpers and option types first (the probe options, and the checked
:class:`ProbeOptions` they make, are in :mod:`prober.cli_options`, shared with ``serve``
and ``worker``), then one section per command (check,
explain, demo, diagnose, preflight), then :func:`main`, the one error handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import io
import ipaddress
import json
import math
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from typer.exceptions import TyperException

from prober import __version__
from prober.cli_options import (
    AllowPrivateOption,
    CaFileOption,
    ConnectTimeoutOption,
    DeadlineOption,
    DnsServerOption,
    DnsTimeoutOption,
    HeloOption,
    LangOption,
    MailFromOption,
    MaxMxOption,
    NoCatchAllCheckOption,
    NoStarttlsOption,
    PortOption,
    ProxyOption,
    SourceOption,
    TimeoutOption,
    check_at_least,
)
from prober.cli_options import check_lang as _lang
from prober.cli_options import check_network_options as _check_network_options
from prober.cli_options import check_port as _check_port
from prober.cli_options import check_seconds as _check_seconds
from prober.cli_options import dns_config as _dns_config
from prober.cli_options import probe_options as _probe_options
from prober.cli_words import (
    GLOBAL_OPTIONS,
    OptionError,
    choose_language,
    localize,
    option_value,
    speaking,
    usage_error,
)
from prober.engine.verdict import Verdict
from prober.errors import InputError, OutputError, Phrase, ProberError
from prober.explanation.catalogue import Stage
from prober.explanation.explain import explain_text
from prober.numbers import ascii_port
from prober.output.messages import message
from prober.output.render import (
    explanation_text,
    mx_block,
    result_head,
    result_text,
    step_text,
    verdict_line,
)
from prober.output.terminal import json_safe, safe, safe_block
from prober.results import ProbeEvent, ProbeOptions, ProbeResult

DISTRIBUTION = "smtp-prober"


class ExitStatus(enum.IntEnum):
    """Exit statuses of ``probe`` (documented in the README)."""

    DELIVERABLE = 0  # also: success for explain, demo, diagnose without problems
    UNDELIVERABLE = 1  # also: diagnose found errors
    ERROR = 2  # usage, input or output error; explain found nothing to explain
    RISKY = 3  # also: diagnose found warnings only
    UNKNOWN = 4
    INTERRUPTED = 130
    CLOSED = 141  # the reader of the output went away (``| head``), as SIGPIPE would


VERDICT_STATUS = {
    Verdict.DELIVERABLE: ExitStatus.DELIVERABLE,
    Verdict.UNDELIVERABLE: ExitStatus.UNDELIVERABLE,
    Verdict.RISKY: ExitStatus.RISKY,
    Verdict.UNKNOWN: ExitStatus.UNKNOWN,
}

COMMANDS = (
    "check", "explain", "demo", "diagnose", "preflight", "serve", "keys", "worker", "submit", "job"
)
_PASSTHROUGH = ("--help", "-h", "--install-completion", "--show-completion")

app = typer.Typer(
    name="probe",
    help=(
        "Check whether an address can receive mail, without ever sending a message, and "
        "explain every SMTP reply.\n\n"
        "probe ADDRESS...  is short for  probe check ADDRESS..."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


# -- shared helpers ------------------------------------------------------------------


def _choice(value: str, allowed: tuple[str, ...], hint: str) -> str:
    if value not in allowed:
        raise OptionError("option_choice", hint, allowed=", ".join(map(repr, allowed)))
    return value


def _out(text: str = "", *, escaped: bool = False, colour: bool | None = None) -> None:
    """One piece of the command's text output on stdout: the one place text leaves for
    the terminal. Everything in it that came from outside is escaped (control, ESC and
    bidi characters shown as ``\\x1b``, ``\\u202e``), unless ``escaped`` says each
    outside field already was (a rendered transcript, whose colour codes are ours). A
    failed write is an OutputError; a reader that went away (``| head``) is left to
    the caller."""
    try:
        typer.echo(text if escaped else safe_block(text), color=colour)
    except BrokenPipeError:
        raise
    except OSError as exc:  # a full disk
        raise OutputError.of(exc) from None


def _echo_json(data: Any) -> None:
    # Exact JSON; C1 and bidi controls written as \uXXXX escapes (the same value).
    _out(json_safe(json.dumps(data, ensure_ascii=False, indent=2)), escaped=True)


def colour_wanted(mode: str, stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """``--color``: never, always, or (auto) on a terminal unless NO_COLOR is set or
    TERM=dumb; FORCE_COLOR asks for colour even off a terminal (no-color.org,
    force-color.org)."""
    env = dict(os.environ) if env is None else env
    if mode == "never":
        return False
    if mode == "always":
        return True
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _severity_status(worst: object) -> ExitStatus:
    """diagnose / preflight: 1 when an error was found, 3 for warnings only, else 0."""
    value = str(worst) if worst is not None else ""
    if value == "error":
        return ExitStatus.UNDELIVERABLE
    if value == "warning":
        return ExitStatus.RISKY
    return ExitStatus.DELIVERABLE


# -- option types shared by the commands -------------------------------------------------

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the result as one JSON object instead of text.")
]
ColorOption = Annotated[
    str,
    typer.Option(
        "--color",
        "--colour",
        metavar="auto|always|never",
        help="Colour: auto (on a terminal, unless NO_COLOR or TERM=dumb), always, never.",
    ),
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        metavar="PATH",
        help="Configuration file (TOML; also PROBER_CONFIG; default: the platform's config "
        "directory, e.g. ~/.config/prober/config.toml).",
    ),
]


# -- check -----------------------------------------------------------------------------

OUTPUT_FORMATS = ("text", "jsonl", "csv", "json")
_BY_EXTENSION = {".csv": "csv", ".json": "json", ".txt": "text", ".jsonl": "jsonl"}


def output_format(given: str | None, json_output: bool, output: str | None, single: bool) -> str:
    """The format to write: ``--format``; else ``--json`` for one address; else from the
    name of ``--output`` (.csv, .json, .txt, anything else jsonl); else text. A format
    that cannot apply is a usage error, never quietly ignored."""
    if json_output:
        if given is not None and given != "json":
            raise OptionError("option_json_format", "--json", format=given)
        if not single:
            raise OptionError("option_json_many", "--json")
        return "object"
    if given is not None:
        return _choice(given, OUTPUT_FORMATS, "--format")
    if output is not None and output != "-":
        return _BY_EXTENSION.get(Path(output).suffix.lower(), "jsonl")
    return "text"


@app.command()
def check(
    addresses: Annotated[
        list[str] | None,
        typer.Argument(help="Addresses to probe.", show_default=False, metavar="ADDRESS"),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="Read addresses from FILE (- for standard input): one per line, CSV with "
            "a header, or JSON lines.",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="The CSV column (or JSON field) holding the addresses; makes the input "
            "CSV (default: a column named email, e-mail, mail or address).",
        ),
    ] = None,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="Output: text, jsonl, csv or json, for one address or many (default: "
            "text; with --output, from its extension). A CSV read in comes back as the "
            "same rows with the results appended.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the results to FILE."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="With --output: keep what an earlier run of this list wrote, and go on.",
        ),
    ] = False,
    fields: Annotated[
        str | None,
        typer.Option(
            metavar="A,B,...",
            help="Only these fields of each result (jsonl, json and csv), e.g. "
            "address,verdict,reason,summary.",
        ),
    ] = None,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="JSON without the transcript (explanation, MX, attempts): some 300 bytes "
            "per address instead of several KB, for lists of millions.",
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option(metavar="N", help="Connections at once, in all.")
    ] = 20,
    per_host: Annotated[
        int, typer.Option(metavar="N", help="Connections at once to one MX host.")
    ] = 2,
    rate: Annotated[
        float | None,
        typer.Option(
            metavar="PER_SECOND", help="RCPT commands per second per domain (default: no cap)."
        ),
    ] = None,
    rcpt_per_transaction: Annotated[
        int, typer.Option(metavar="N", help="Recipients asked per MAIL transaction.")
    ] = 100,
    greylist_retry: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="Re-probe greylisted addresses once after this many seconds.",
        ),
    ] = None,
    rcpt_per_session: Annotated[
        int,
        typer.Option(metavar="N", help="Recipients one connection asks about before QUIT."),
    ] = 100,
    error_budget: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Refused recipients one connection may collect (Postfix punishes past 10).",
        ),
    ] = 10,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Only the verdict line for one address; for a list, no progress or summary.",
        ),
    ] = False,
    progress: Annotated[
        str,
        typer.Option(
            metavar="auto|always|never",
            help="Progress line on standard error: auto (on a terminal, when the results "
            "go elsewhere), always, never.",
        ),
    ] = "auto",
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Syntax and known lists only (disposable, role, free provider, typos): "
            "no DNS, no SMTP.",
        ),
    ] = False,
    db: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="List mode: reuse fresh answers from the service's store (sqlite:///PATH or "
            "postgresql://…) and keep new ones there.",
        ),
    ] = None,
    json_output: JsonOption = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Explain every step, even successful ones."),
    ] = False,
    lang: LangOption = "en",
    color: ColorOption = "auto",
    config: ConfigOption = None,
    mail_from: MailFromOption = None,
    helo: HeloOption = "",
    port: PortOption = 25,
    no_starttls: NoStarttlsOption = False,
    no_catch_all_check: NoCatchAllCheckOption = False,
    no_pipelining: Annotated[
        bool,
        typer.Option("--no-pipelining", help="Never pipeline commands, even when offered."),
    ] = False,
    dns_server: DnsServerOption = None,
    dns_timeout: DnsTimeoutOption = 5.0,
    timeout: TimeoutOption = 30.0,
    connect_timeout: ConnectTimeoutOption = 10.0,
    deadline: DeadlineOption = 90.0,
    max_mx: MaxMxOption = 3,
    allow_private: AllowPrivateOption = False,
    tls_ca_file: CaFileOption = None,
    proxy: ProxyOption = None,
    source_address: SourceOption = None,
) -> None:
    """Probe addresses: MX lookup, SMTP dialogue up to RCPT TO (never DATA), verdict."""
    lang = _lang(lang)
    _choice(progress, ("auto", "always", "never"), "--progress")
    colour_mode = _choice(color, ("auto", "always", "never"), "--color")
    options = _probe_options(
        lang=lang,
        mail_from=mail_from,
        helo=helo,
        port=port,
        no_starttls=no_starttls,
        no_catch_all_check=no_catch_all_check,
        no_pipelining=no_pipelining,
        dns_server=dns_server,
        dns_timeout=dns_timeout,
        timeout=timeout,
        connect_timeout=connect_timeout,
        deadline=deadline,
        max_mx=max_mx,
        allow_private=allow_private,
        tls_ca_file=tls_ca_file,
        proxy=proxy,
        source_address=source_address,
    )
    from prober.config import load_config

    policy = load_config(config).knowledge  # [knowledge] and [policy] of the config file
    if policy is not None:
        options = replace(options, knowledge=policy)
    addresses = addresses or []
    if not addresses and file is None:
        raise OptionError("option_no_address", "ADDRESS")
    # Every option is checked here, list options included, whatever the mode.
    _check_list_options(
        concurrency, per_host, rcpt_per_transaction, rcpt_per_session, rate, greylist_retry,
        error_budget,
    )  # fmt: skip
    if resume and output is None:
        raise OptionError("option_resume_output", "--resume")
    single = file is None and len(addresses) == 1 and output is None and db is None
    fmt = output_format(format_, json_output, output, single)
    if verbose and (fmt != "text" or file is not None):
        what: str | Phrase = (
            "--json"
            if fmt == "object"
            else f"--format {fmt}"
            if fmt != "text"
            else Phrase("option_verbose_list")
        )
        raise OptionError("option_verbose", "--verbose", what=what)
    if compact:
        if fields is not None or fmt not in ("jsonl", "json"):
            raise OptionError(
                "option_compact",
                "--compact",
                what="--fields" if fields is not None else f"--format {fmt}",
            )
        fields = "compact"
    if fields is not None and fmt in ("text", "object"):
        raise OptionError("option_fields", "--fields")
    if column is not None and file is None:
        raise OptionError("option_column", "--column")
    if offline:
        _check_offline(addresses, file, options, fmt, output, resume, column, quiet)
    if single and fmt in ("text", "object"):
        colour = colour_wanted(colour_mode, sys.stdout)
        result = _single(addresses[0], options, fmt, lang, verbose, quiet, colour, config)
        raise typer.Exit(VERDICT_STATUS[result.verdict])
    warnings = asyncio.run(_identity_warnings(options, lang, config))
    _list(
        addresses,
        file,
        options,
        fmt=fmt,
        output=output,
        resume=resume,
        column=column,
        fields=fields,
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        rcpt_per_transaction=rcpt_per_transaction,
        rcpt_per_session=rcpt_per_session,
        greylist_retry=greylist_retry,
        quiet=quiet,
        verbose=verbose,
        progress=progress,
        colour_mode=colour_mode,
        warnings=warnings,
        db=db,
        error_budget=error_budget,
    )


def _check_list_options(
    concurrency: int,
    per_host: int,
    rcpt_per_transaction: int,
    rcpt_per_session: int,
    rate: float | None,
    greylist_retry: float | None,
    error_budget: int,
) -> None:
    check_at_least(
        (
            ("--concurrency", concurrency),
            ("--per-host", per_host),
            ("--rcpt-per-transaction", rcpt_per_transaction),
            ("--rcpt-per-session", rcpt_per_session),
            ("--error-budget", error_budget),
        )
    )
    if rate is not None and not 0 < rate < math.inf:
        raise OptionError("option_above_0", "--rate")
    if greylist_retry is not None and not 0 <= greylist_retry < math.inf:
        raise OptionError("option_seconds_0", "--greylist-retry")


def _check_offline(
    addresses: list[str],
    file: str | None,
    options: ProbeOptions,
    fmt: str,
    output: str | None,
    resume: bool,
    column: str | None,
    quiet: bool,
) -> None:
    """``--offline``: the knowledge layer alone, for one address or a list; exits."""
    from prober.knowledge import check_offline, run_offline_list

    if file is None and len(addresses) == 1 and output is None and fmt in ("text", "object"):
        result = check_offline(addresses[0], options.knowledge, lang=options.lang)
        if fmt == "object":
            _echo_json(result.to_dict())
        elif quiet:
            _out(verdict_line(result, options.lang))
        else:
            _out(result_text(result, options.lang), escaped=True)
        raise typer.Exit(VERDICT_STATUS[result.verdict])
    if fmt not in ("jsonl", "csv", "text"):
        raise OptionError("option_offline_format", "--format")
    code = run_offline_list(
        addresses,
        file,
        output_format=fmt,
        output=output,
        resume=resume,
        column=column,
        quiet=quiet,
        policy=options.knowledge,
        lang=options.lang,
        stdout=sys.stdout,
        stderr=sys.stderr,
        stdin=sys.stdin.buffer if file == "-" else None,
    )
    raise typer.Exit(code)


async def _identity_warnings(
    options: ProbeOptions, lang: str, config: str | None
) -> tuple[str, ...]:
    """What is wrong with the HELO name (one DNS lookup, never longer than the DNS
    timeout: a single probe asks it while probing)."""
    from prober.config import find_config, identity_warnings
    from prober.resolve.mx import Resolver

    try:
        found = find_config(config)
    except InputError:
        found = None
    try:
        async with asyncio.timeout(options.dns.timeout):
            where = str(found) if found else None
            return await identity_warnings(options, Resolver(options.dns), lang, where)
    except TimeoutError:
        return ()


class _Live:
    """Prints a probe as it happens (``on_event``): MX, each connection, each step; and
    on a terminal a "waiting for …" line on standard error while a server keeps silent."""

    def __init__(self, lang: str, verbose: bool, colour: bool, *, live: bool, status: bool) -> None:
        self.lang = lang
        self.verbose = verbose
        self.colour = colour
        self.live = live  # print as it happens (else only collect, for Ctrl-C)
        self.status = status
        self.seen: list[str] = []
        self.started = time.monotonic()
        self._waiting: tuple[float, ProbeEvent] | None = None
        self._drawn = False
        self.port = 25

    def __call__(self, event: ProbeEvent) -> None:
        text: str | None = None
        if event.kind == "mx" and event.mx is not None:
            text = mx_block(event.mx, self.lang)
        elif event.kind == "connecting":
            text = f"\n{safe(event.host or '')} [{safe(event.ip or '')}]:{self.port}"
            self._waiting = (time.monotonic(), event)
        elif event.kind == "step" and event.step is not None:
            text = step_text(event.step, self.lang, self.verbose, self.colour)
            self._waiting = None
        elif event.kind == "waiting":
            # Told every second of a silence; the line counts from the first time.
            if self._waiting is None or self._waiting[1].kind != "waiting":
                self._waiting = (time.monotonic() - event.elapsed, event)
            return
        if text is None:
            return
        self.seen.append(text)
        if self.live:
            self._clear()
            _out(text, escaped=True, colour=self.colour)
        if event.kind == "connecting":
            self._waiting = (time.monotonic(), event)

    def _clear(self) -> None:
        if self._drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
            self._drawn = False

    async def tick(self) -> None:
        """Redraw the waiting line once a second, after the first second of silence."""
        while True:
            await asyncio.sleep(0.5)
            if not (self.live and self.status) or self._waiting is None:
                continue
            since, event = self._waiting
            seconds = int(time.monotonic() - since)
            if seconds < 1:
                continue
            if event.kind == "connecting":
                line = message("live_waiting_connect", self.lang, seconds=seconds)
            elif event.stage is None or event.stage is Stage.BANNER:
                line = message("live_waiting_banner", self.lang, seconds=seconds)
            else:
                shown = str(event.stage).upper()
                line = message("live_waiting_reply", self.lang, command=shown, seconds=seconds)
            sys.stderr.write(f"\r\x1b[K  {line}")
            sys.stderr.flush()
            self._drawn = True

    def interrupted(self, quiet: bool = False) -> None:
        self._clear()
        if not self.live and not quiet:
            for text in self.seen:
                _out(text, escaped=True)
        seconds = f"{time.monotonic() - self.started:.1f}"
        _say(message("live_interrupted", self.lang, seconds=seconds))


def _single(
    address: str,
    options: ProbeOptions,
    fmt: str,
    lang: str,
    verbose: bool,
    quiet: bool,
    colour: bool,
    config: str | None,
) -> ProbeResult:
    """One address, as text (live on a terminal) or as one JSON object."""
    live_wanted = fmt == "text" and not quiet and _isatty(sys.stdout)
    watcher = _Live(lang, verbose, colour, live=live_wanted, status=_isatty(sys.stderr))
    watcher.port = options.port

    from prober.engine.session import probe  # the engine loads when a probe runs

    async def run() -> tuple[ProbeResult, tuple[str, ...]]:
        ticker = asyncio.ensure_future(watcher.tick())
        helo = asyncio.ensure_future(_identity_warnings(options, lang, config))
        try:
            result = await probe(address, options, on_event=watcher)
            return result, await helo
        finally:
            ticker.cancel()
            helo.cancel()

    try:
        result, warnings = asyncio.run(run())
    except KeyboardInterrupt:
        watcher.interrupted(quiet or fmt == "object")
        raise typer.Exit(ExitStatus.INTERRUPTED) from None
    watcher._clear()
    if warnings:
        result = replace(result, warnings=result.warnings + warnings)
    if fmt == "object":
        _echo_json(result.to_dict())
    elif quiet:
        _out(verdict_line(result, lang, colour), escaped=True, colour=colour)
    elif watcher.live:
        _out("")
        _out(result_head(result, lang, colour), escaped=True, colour=colour)
    else:
        _out(result_text(result, lang, verbose, colour), escaped=True, colour=colour)
    return result


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _list(
    addresses: list[str],
    file: str | None,
    options: ProbeOptions,
    *,
    fmt: str,
    output: str | None,
    resume: bool,
    column: str | None,
    fields: str | None,
    concurrency: int,
    per_host: int,
    rate: float | None,
    rcpt_per_transaction: int,
    rcpt_per_session: int,
    greylist_retry: float | None,
    quiet: bool,
    verbose: bool,
    progress: str,
    colour_mode: str,
    warnings: tuple[str, ...],
    db: str | None = None,
    error_budget: int = 10,
) -> None:
    from prober.engine.bulk import ListOptions, run_list
    from prober.output.progress import wanted

    if output == "-":
        output = None
    for warning in () if quiet else warnings:
        _say(f"probe: {message('warning', options.lang)}: {safe(warning)}")
    list_options = ListOptions(
        probe=options,
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        rcpt_per_transaction=rcpt_per_transaction,
        greylist_retry=greylist_retry,
        format=fmt,
        output=output,
        resume=resume,
        column=column,
        # auto: not when the results themselves scroll by on the same terminal.
        progress=not quiet
        and wanted(progress, sys.stderr)
        and not (progress == "auto" and output is None and _isatty(sys.stdout)),
        rcpt_per_session=rcpt_per_session,
        quiet=quiet,
        csv_input=column is not None,
        fields=fields,
        full_text=fmt == "text" and file is None,
        colour=colour_wanted(colour_mode, sys.stderr),
        warnings=warnings,
        verbose=verbose,
        text_colour=output is None and colour_wanted(colour_mode, sys.stdout),
        error_budget=error_budget,
    )
    if db is not None:
        from prober.service.cached_list import run_cached

        raise typer.Exit(
            run_cached(addresses, file, list_options, db, stdout=sys.stdout, stderr=sys.stderr)
        )
    code = run_list(addresses, file, list_options, stdout=sys.stdout, stderr=sys.stderr)
    raise typer.Exit(code)


# -- explain ---------------------------------------------------------------------------


@app.command()
def explain(
    what: Annotated[
        list[str],
        typer.Argument(
            help="A code (550), an enhanced code (5.1.1), a reply as pasted from a log, "
            "or - / a file path for a whole bounce message.",
            show_default=False,
            metavar="REPLY",
        ),
    ],
    json_output: JsonOption = False,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            metavar="STAGE",
            help="The step the reply answered: connect, banner, ehlo, helo, starttls, auth, "
            "mail, rcpt, data, rset or quit (default: as the text says, or unknown).",
            show_default=False,
        ),
    ] = None,
    lang: LangOption = "en",
    config: ConfigOption = None,
) -> None:
    """Explain an SMTP reply code, an enhanced status code, a reply text or a bounce."""
    lang = _lang(lang)
    step = Stage(_choice(stage.lower(), _STAGES, "--stage")) if stage is not None else None
    text = " ".join(what)
    data: bytes | None = None
    if text == "-":
        data = sys.stdin.buffer.read(10 * 1024 * 1024 + 1)
    elif len(what) == 1 and "\n" not in text and len(text) < 4096 and Path(text).is_file():
        with open(text, "rb") as handle:
            data = handle.read(10 * 1024 * 1024 + 1)
    elif len(what) == 1 and text.lower().endswith((".eml", ".msg", ".txt")) and " " not in text:
        raise InputError("error_no_such_file", path=text)
    if data is not None:
        if len(data) > 10 * 1024 * 1024:
            raise InputError("error_bounce_large")
        _explain_bounce(data, json_output, lang)
        return
    why = explain_text(text, lang, stage=step)
    if why.code is None and why.enhanced_code is None and not why.known:
        # Nothing to go by: saying so beats explaining "hello world" as an unknown reply.
        if json_output:
            _echo_json(why.to_dict())
        _say(f"probe: {message('no_code', lang, text=text[:200])}")
        raise typer.Exit(ExitStatus.ERROR)
    if json_output:
        _echo_json(why.to_dict())
    else:
        _out(explanation_text(why))


_STAGES = tuple(str(s) for s in Stage)


def _explain_bounce(data: bytes, as_json: bool, lang: str) -> None:
    from prober.explanation.bounce import parse_bounce

    bounce = parse_bounce(data, lang)
    if as_json:
        _echo_json(bounce.to_dict())
        return
    if not bounce.recipients:
        _out(message("no_recipient", lang))
        raise typer.Exit(ExitStatus.UNKNOWN)
    for recipient in bounce.recipients:
        head = recipient.address or "?"
        details = [x for x in (recipient.action, recipient.status) if x]
        _out(f"{head}" + (f"  ({', '.join(details)})" if details else ""))
        if recipient.diagnostic:
            _out(f"  {recipient.diagnostic}")
        _out(explanation_text(recipient.explanation, "  "))
        _out("")


# -- demo ------------------------------------------------------------------------------


@app.command()
def demo(
    address: Annotated[
        str | None,
        typer.Argument(
            help="Probe one address of the demo world, with its full transcript.",
            metavar="ADDRESS",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print each result as one JSON line.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every transcript.")
    ] = False,
    lang: LangOption = "en",
    color: ColorOption = "auto",
    config: ConfigOption = None,
) -> None:
    """Run prober against its embedded loopback world (no internet needed)."""
    try:
        from prober.testing.demo import ADDRESSES, demo_options, demo_world
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "aiosmtpd":
            raise
        raise InputError("demo_needs", dist=DISTRIBUTION) from None

    lang = _lang(lang)
    colour = colour_wanted(_choice(color, ("auto", "always", "never"), "--color"), sys.stdout)

    from prober.engine.session import probe

    async def run() -> list[tuple[str, ProbeResult]]:
        async with demo_world() as world:
            options = demo_options(world, ProbeOptions(lang=lang))
            todo = [(address, "")] if address is not None else list(ADDRESSES)
            results = await asyncio.gather(*(probe(a, options) for a, _ in todo))
            return [(what, r) for (_, what), r in zip(todo, results, strict=True)]

    outcomes = asyncio.run(run())
    if json_output:
        for _, result in outcomes:
            _out(json_safe(json.dumps(result.to_dict(), ensure_ascii=False)), escaped=True)
        return
    if address is not None or verbose:
        for _, result in outcomes:
            _out(result_text(result, lang, verbose, colour), escaped=True, colour=colour)
            _out("")
        return
    from prober.output.messages import messages
    from prober.output.render import reason_text

    width = max(len(r.address) for _, r in outcomes)
    words = max(len(message(f"verdict_{v.value}", lang)) for v in Verdict)
    for what, result in outcomes:
        shown = messages().get(f"demo:{result.address}", {}).get(lang, what)
        verdict = message(f"verdict_{result.verdict.value}", lang)
        reason = reason_text(result.reason.value, lang)
        _out(f"{result.address:<{width}}  {verdict:<{words}} {reason}")
        _out(f"{'':<{width}}  {shown}: {result.summary}")
    _out("")
    _out(message("demo_hint", lang))


# -- diagnose --------------------------------------------------------------------------


@app.command()
def diagnose(
    domain: Annotated[
        str,
        typer.Argument(
            help="The domain whose mail servers to examine (or an address: its domain).",
            metavar="DOMAIN",
        ),
    ],
    json_output: JsonOption = False,
    lang: LangOption = "en",
    config: ConfigOption = None,
    dns_server: DnsServerOption = None,
    dns_timeout: DnsTimeoutOption = 5.0,
    port: PortOption = 25,
    helo: HeloOption = "",
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds to wait for each step.")
    ] = 15.0,
    deadline: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds for the whole diagnosis.")
    ] = 120.0,
    allow_private: AllowPrivateOption = False,
    tls_ca_file: CaFileOption = None,
    no_relay_test: Annotated[
        bool,
        typer.Option(
            "--no-relay-test", help="Skip the open-relay test (a RCPT to a foreign domain)."
        ),
    ] = False,
    no_null_sender_test: Annotated[
        bool,
        typer.Option(
            "--no-null-sender-test", help="Skip the test that the null sender <> is accepted."
        ),
    ] = False,
    proxy: ProxyOption = None,
    source_address: SourceOption = None,
) -> None:
    """Examine a domain's receiving side: MX, SPF, DMARC, MTA-STS, TLS-RPT, DANE, and for
    every MX host its reverse DNS, banner, extensions, TLS certificate, open relay and
    null-sender behaviour. Findings are ranked error / warning / note, each explained."""
    from prober.diagnose.domain import DiagnoseOptions
    from prober.diagnose.domain import diagnose as run_diagnose
    from prober.diagnose.domain import render_text as render_diagnosis

    lang = _lang(lang)
    _check_port(port)
    _check_seconds(("--timeout", timeout), ("--deadline", deadline), ("--dns-timeout", dns_timeout))
    _check_network_options(proxy, source_address, tls_ca_file)
    if helo and not _HELO_NAME.fullmatch(helo):
        raise OptionError("option_helo", "--helo")
    if "@" in domain:
        domain = domain.rpartition("@")[2]  # an address: the domain that receives its mail
    options = DiagnoseOptions(
        dns=_dns_config(dns_server, dns_timeout),
        port=port,
        helo=helo,
        timeout=timeout,
        deadline=deadline,
        allow_private=allow_private,
        tls_ca_file=str(tls_ca_file) if tls_ca_file else None,
        lang=lang,
        relay_test=not no_relay_test,
        null_sender_test=not no_null_sender_test,
        source_address=source_address,
        proxy=proxy,
    )
    result = asyncio.run(run_diagnose(domain, options))
    if json_output:
        _echo_json(result.to_dict())
    else:
        _out(render_diagnosis(result, lang))
    raise typer.Exit(_severity_status(result.worst))


# -- preflight -------------------------------------------------------------------------


@app.command()
def preflight(
    json_output: JsonOption = False,
    lang: LangOption = "en",
    config: ConfigOption = None,
    helo: HeloOption = "",
    target: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST[:PORT]",
            help="Mail host to test outbound port 25 against (repeatable; "
            "default: well-known MX hosts of several providers).",
        ),
    ] = None,
    check_ip: Annotated[
        str | None, typer.Option(metavar="IP", help="Also look this IP up on DNS blocklists.")
    ] = None,
    blocklist: Annotated[
        list[str] | None,
        typer.Option(metavar="ZONE", help="DNS blocklist zone for --check-ip (repeatable)."),
    ] = None,
    dns_server: DnsServerOption = None,
    dns_timeout: DnsTimeoutOption = 5.0,
    timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds per connection attempt.")
    ] = 10.0,
    deadline: Annotated[
        float, typer.Option(metavar="SECONDS", help="Seconds for the whole check.")
    ] = 60.0,
    allow_private: AllowPrivateOption = False,
    proxy: ProxyOption = None,
    source_address: SourceOption = None,
) -> None:
    """Check this host as a sender of probes: its HELO name and reverse DNS, whether
    outbound port 25 is open, and (with --check-ip) DNS blocklist listings. Read-only."""
    from prober.diagnose.preflight import PreflightOptions
    from prober.diagnose.preflight import preflight as run_preflight
    from prober.diagnose.preflight import render_text as render_preflight

    lang = _lang(lang)
    _check_seconds(("--timeout", timeout), ("--deadline", deadline), ("--dns-timeout", dns_timeout))
    _check_network_options(proxy, source_address)
    if helo and not _HELO_NAME.fullmatch(helo):
        raise OptionError("option_helo", "--helo")
    targets = [_target(item) for item in target or []]
    if check_ip is not None:
        try:
            ipaddress.ip_address(check_ip)
        except ValueError:
            raise OptionError("option_check_ip", "--check-ip", ip=check_ip) from None
    for zone in blocklist or []:
        if not _ZONE.fullmatch(zone):
            raise OptionError("option_zone", "--blocklist", zone=zone)
    fields: dict[str, Any] = {
        "dns": _dns_config(dns_server, dns_timeout),
        "helo": helo,
        "timeout": timeout,
        "deadline": deadline,
        "allow_private": allow_private,
        "check_ip": check_ip,
        "source_address": source_address,
        "proxy": proxy,
        "lang": lang,
    }
    if targets:
        fields["targets"] = tuple(targets)
    if blocklist:
        fields["blocklists"] = tuple(blocklist)
    result = asyncio.run(run_preflight(PreflightOptions(**fields)))
    if json_output:
        _echo_json(result.to_dict())
    else:
        _out(render_preflight(result, lang))
    raise typer.Exit(_severity_status(result.worst))


_HELO_NAME = re.compile(r"[A-Za-z0-9._:\[\]-]{1,255}")
_ZONE = re.compile(
    r"(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?"
)


def _target(item: str) -> tuple[str, int]:
    """--target HOST[:PORT] (an IPv6 address with a port in brackets: [2001:db8::1]:25)."""
    text = item.strip()
    host, port_text = text, "25"
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or (text[close + 1 :] and not text[close + 1 :].startswith(":")):
            raise OptionError("option_target_ipv6", "--target", target=item)
        host, port_text = text[1:close], text[close + 2 :] or "25"
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = ascii_port(port_text)
    if not host or port is None:
        raise OptionError("option_target", "--target", target=item)
    return host, port


# -- the service's and the workers' commands (serve, keys; worker, submit, job) -----------

from prober.service.cli import app as _service_app  # noqa: E402
from prober.workers.cli import app as _workers_app  # noqa: E402

app.add_typer(_service_app)
app.add_typer(_workers_app)


# -- the entry point -------------------------------------------------------------------


def _abandon_stdout() -> None:
    """After stdout failed (full disk, closed pipe): point it at /dev/null, so that the
    interpreter's last flush of what is still buffered cannot fail a second time."""
    try:
        fd = sys.stdout.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass  # not a real descriptor (a test's capture): nothing will flush it later


def _settle_stdout() -> int | None:
    """Flush stdout now, inside the handled path. A reader that went away (``| head``)
    is the closed-pipe status, said quietly; any other failure (list mode already said
    why) leaves nothing for the interpreter's own flush to fail on."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _abandon_stdout()
        return ExitStatus.CLOSED
    except (OSError, ValueError):
        _abandon_stdout()
    return None


def _say(text: str) -> None:
    """A message on stderr, escaped for the terminal; if even stderr cannot be written,
    the exit status says it."""
    with contextlib.suppress(OSError):
        typer.echo(safe_block(text), err=True)


def _config_argument(args: list[str]) -> str | None:
    return option_value(args, "--config")


# The commands whose output a person reads: with no --lang, PROBER_LANG or lang in the
# configuration file, they speak the locale's language. serve, worker and submit make
# data for others (an API, a job's results) and stay English unless told.
_LOCALE_COMMANDS = ("check", "explain", "demo", "diagnose", "preflight")


def _configuration(args: list[str]) -> tuple[dict[str, Any], InputError | None]:
    """The configuration file's values (empty when there is none), and the error that
    kept it from being read, raised later: help is given whatever the file says."""
    from prober.config import load_config

    try:
        return load_config(_config_argument(args)).command_defaults(), None
    except InputError as exc:
        return {}, exc


def _defaults(found: dict[str, Any], lang: str) -> dict[str, Any]:
    """The configuration file as each command's defaults (flags still win), and the
    language chosen before parsing as the default of the commands a person reads."""
    defaults = {name: dict(found) for name in COMMANDS}
    for name in _LOCALE_COMMANDS:
        defaults[name].setdefault("lang", lang)
    return defaults


def command(lang: str = "en") -> Any:
    """The click command behind ``probe``, worded in ``lang`` (also read by the man page
    generator).

    Arguments show their metavar alone (ADDRESS), not the Python type after it."""
    from typer.core import TyperArgument, TyperGroup

    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    todo: list[Any] = list(group.commands.values())
    while todo:
        sub = todo.pop()
        todo += getattr(sub, "commands", {}).values()
        for param in sub.params:
            if isinstance(param, TyperArgument):
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
    localize(group, lang)
    return group


def _options(cmd: Any) -> set[str]:
    return {name for param in cmd.params for name in (*param.opts, *param.secondary_opts)}


def _command_first(args: list[str], group: Any, lang: str) -> list[str]:
    """Options written before the command go after its name: ``probe --lang it explain
    550`` is ``probe explain --lang it 550``, and ``probe --lang it a@b.test`` is ``probe
    check --lang it a@b.test``. ``--lang`` before a command without it (``probe --lang it
    job -h``) has already chosen the language of the messages and help; any other option
    the command does not take is a usage error."""
    moved: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(args):
        name = args[i].split("=", 1)[0]
        if name not in GLOBAL_OPTIONS:
            break
        width = 1 if "=" in args[i] else 2
        moved.append((name, args[i : i + width]))
        i += width
    rest = args[i:]
    if not rest or rest[0] in _PASSTHROUGH:
        return rest  # probe's own help, in the language already chosen
    name = rest[0] if rest[0] in COMMANDS else "check"
    if name == rest[0]:
        rest = rest[1:]
    taken = _options(group.commands[name])
    kept: list[str] = []
    for option, words in moved:
        if option in taken:
            kept += words
        elif option != "--lang":
            raise _NotTaken(message("usage_global_option", lang, command=name, option=option))
    return [name, *kept, *rest]


class _NotTaken(Exception):
    """A global option written before a command that does not take it."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``probe ADDRESS`` is ``probe check ADDRESS``."""
    args = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in args
    args = [a for a in args if a != "--traceback"]
    if args and args[0] in ("--version", "-V"):
        typer.echo(f"prober {__version__}")
        raise SystemExit(0)
    completing = any(k.endswith("_COMPLETE") and k.startswith("_PROBE") for k in os.environ)
    found, config_error = _configuration(args)
    lang = choose_language(args, os.environ, found.get("lang"))
    with speaking(lang):
        _run(args, lang, found, config_error, traceback=traceback, completing=completing)


def _run(
    args: list[str],
    lang: str,
    found: dict[str, Any],
    config_error: InputError | None,
    *,
    traceback: bool,
    completing: bool,
) -> None:
    """Parse and run in ``lang``; the one error handler."""
    try:
        group = command(lang)
        if not completing:
            args = _command_first(args, group, lang)
        helping = any(a in (*_PASSTHROUGH, "--show-completion") for a in args)
        if config_error is not None and not helping:
            raise config_error
        # standalone_mode=False: errors come back here, to the one handler below.
        status = group.main(
            args=args, prog_name="probe", standalone_mode=False, default_map=_defaults(found, lang)
        )
    except typer.Exit as exit_:
        closed = _settle_stdout()
        raise SystemExit(closed if closed is not None else exit_.exit_code) from None
    except BrokenPipeError:
        _abandon_stdout()
        raise SystemExit(ExitStatus.CLOSED) from None
    except KeyboardInterrupt:
        _say(message("interrupted", lang))
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    except _NotTaken as exc:
        _say(f"probe: {exc}")
        raise SystemExit(ExitStatus.ERROR) from None
    except ProberError as exc:
        if isinstance(exc, OutputError):
            _abandon_stdout()
        if traceback:
            raise
        _say(f"probe: {exc.text(lang)}")
        raise SystemExit(ExitStatus.ERROR) from None
    except Exception as exc:  # the one central handler: usage errors and the unexpected
        if isinstance(exc, typer.Abort):
            _say(message("interrupted", lang))
            raise SystemExit(ExitStatus.INTERRUPTED) from None
        show = getattr(exc, "show", None)
        if isinstance(exc, TyperException) and callable(show):
            # A usage error, worded in the language, which quotes what was typed (or
            # pasted), so it is escaped for the terminal too. "probe" alone: the help.
            if getattr(exc, "ctx", None) is not None and type(exc).__name__ == "NoArgsIsHelpError":
                buffer = io.StringIO()
                show(file=buffer)
                _say(buffer.getvalue().rstrip("\n"))
            else:
                _say(usage_error(exc, lang))
            raise SystemExit(ExitStatus.ERROR) from None
        if traceback:
            raise
        _say(message("unexpected_error", lang, kind=type(exc).__name__, error=exc))
        raise SystemExit(ExitStatus.ERROR) from None
    closed = _settle_stdout()
    if closed is not None:
        raise SystemExit(closed)
    raise SystemExit(status if isinstance(status, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
