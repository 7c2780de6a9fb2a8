"""The ``probe`` command line: parse, call the library, render, map to an exit status.

Thin on purpose: every decision lives in the library; this module only turns options
into option objects, results into text or JSON, and outcomes into :class:`ExitStatus`.
Known errors become one-line messages; ``--traceback`` shows the rest.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from prober import __version__
from prober.engine.session import probe
from prober.engine.verdict import Verdict
from prober.errors import InputError, ProberError
from prober.explanation.explain import explain_text
from prober.output.render import explanation_text, result_text
from prober.resolve.mx import DNSConfig, parse_dns_server
from prober.results import ProbeOptions, ProbeResult


class ExitStatus(enum.IntEnum):
    """Exit statuses of ``probe`` (documented in the README)."""

    DELIVERABLE = 0  # also: success for explain, demo, diagnose without problems
    UNDELIVERABLE = 1  # also: diagnose found errors
    ERROR = 2  # usage, input or output error
    RISKY = 3  # also: diagnose found warnings only
    UNKNOWN = 4
    INTERRUPTED = 130


VERDICT_STATUS = {
    Verdict.DELIVERABLE: ExitStatus.DELIVERABLE,
    Verdict.UNDELIVERABLE: ExitStatus.UNDELIVERABLE,
    Verdict.RISKY: ExitStatus.RISKY,
    Verdict.UNKNOWN: ExitStatus.UNKNOWN,
}

COMMANDS = (
    "check", "explain", "demo", "diagnose", "preflight", "serve", "keys", "worker", "submit", "job"
)

app = typer.Typer(
    name="probe",
    help=(
        "Check whether an address can receive mail, without ever sending a message, and "
        "explain every SMTP reply.\n\n"
        "probe ADDRESS...  is short for  probe check ADDRESS..."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)

LangOption = Annotated[
    str,
    typer.Option(
        "--lang",
        envvar="PROBER_LANG",
        help="Language of explanations: en or it (also PROBER_LANG).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _lang(value: str) -> str:
    value = value.lower().split("_")[0].split("-")[0]
    if value not in ("en", "it"):
        raise typer.BadParameter(
            f"unsupported language {value!r}; use en or it", param_hint="--lang"
        )
    return value


def _check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise typer.BadParameter("the port must be between 1 and 65535", param_hint="--port")


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _probe_options(
    *,
    lang: str,
    mail_from: str | None,
    helo: str,
    port: int,
    no_starttls: bool,
    no_catch_all_check: bool,
    no_pipelining: bool,
    dns_server: list[str] | None,
    dns_timeout: float,
    timeout: float,
    connect_timeout: float,
    deadline: float,
    max_mx: int,
    allow_private: bool,
    tls_ca_file: Path | None,
    proxy: str | None,
    source_address: str | None,
) -> ProbeOptions:
    if mail_from is not None and any(c in mail_from for c in "<>\r\n\0 "):
        raise typer.BadParameter(
            "the sender address may not contain '<', '>', spaces or control characters",
            param_hint="--mail-from",
        )
    _check_port(port)
    for name, seconds in (
        ("--timeout", timeout),
        ("--connect-timeout", connect_timeout),
        ("--deadline", deadline),
        ("--dns-timeout", dns_timeout),
    ):
        if not seconds > 0:
            raise typer.BadParameter("must be more than 0 seconds", param_hint=name)
    if max_mx < 1:
        raise typer.BadParameter("must be at least 1", param_hint="--max-mx")
    return ProbeOptions(
        helo=helo,
        mail_from=mail_from,
        port=port,
        starttls=not no_starttls,
        catch_all_check=not no_catch_all_check,
        pipelining=not no_pipelining,
        connect_timeout=connect_timeout,
        timeout=timeout,
        deadline=deadline,
        max_hosts=max_mx,
        allow_private=allow_private,
        tls_ca_file=str(tls_ca_file) if tls_ca_file else None,
        source_address=source_address,
        proxy=proxy,
        dns=_dns_config(dns_server, dns_timeout),
        lang=lang,
    )


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def check(
    addresses: Annotated[
        list[str] | None,
        typer.Argument(help="Addresses to probe.", show_default=False, metavar="ADDRESS"),
    ] = None,
    file: Annotated[
        str | None,
        typer.Option(
            "--file", "-f", help="Read addresses from a file (one per line, or CSV; - for stdin)."
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="CSV column holding the addresses (with --file).")
    ] = None,
    output_format: Annotated[
        str, typer.Option("--format", help="List output: jsonl, csv or text.")
    ] = "jsonl",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write list results to this file.")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="With --output: skip addresses already in the file.")
    ] = False,
    concurrency: Annotated[int, typer.Option(help="Connections at once, in all.")] = 20,
    per_host: Annotated[int, typer.Option(help="Connections at once to one MX host.")] = 2,
    rate: Annotated[
        float | None, typer.Option(help="RCPT commands per second per domain (default: no cap).")
    ] = None,
    rcpt_per_transaction: Annotated[
        int, typer.Option(help="Recipients asked per MAIL transaction in list mode.")
    ] = 20,
    greylist_retry: Annotated[
        float | None,
        typer.Option(help="Re-probe greylisted addresses once after this many seconds."),
    ] = None,
    rcpt_per_session: Annotated[
        int, typer.Option(help="Recipients one connection asks about before it says QUIT.")
    ] = 100,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="List mode: no progress and no summary.")
    ] = False,
    json_output: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Explain every step, even successful ones.")
    ] = False,
    lang: LangOption = "en",
    mail_from: Annotated[
        str | None,
        typer.Option(
            help="Sender for MAIL FROM (default: postmaster@<helo>; empty for the null sender)."
        ),
    ] = None,
    helo: Annotated[str, typer.Option(help="Name for EHLO (default: this host's FQDN).")] = "",
    port: Annotated[int, typer.Option(help="SMTP port of the mail servers.")] = 25,
    no_starttls: Annotated[bool, typer.Option(help="Do not upgrade to TLS.")] = False,
    no_catch_all_check: Annotated[
        bool, typer.Option(help="Skip the extra RCPT that detects catch-all domains.")
    ] = False,
    no_pipelining: Annotated[
        bool, typer.Option(help="Never pipeline commands, even when offered.")
    ] = False,
    dns_server: Annotated[
        list[str] | None,
        typer.Option(help="DNS server HOST[:PORT] to ask (repeatable; default: the system's)."),
    ] = None,
    dns_timeout: Annotated[float, typer.Option(help="Seconds per DNS lookup.")] = 5.0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reply.")] = 30.0,
    connect_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for a connection.")
    ] = 10.0,
    deadline: Annotated[float, typer.Option(help="Seconds for a whole probe, every MX.")] = 90.0,
    max_mx: Annotated[int, typer.Option(help="MX hosts tried at most, best first.")] = 3,
    allow_private: Annotated[
        bool,
        typer.Option(help="Allow loopback, private and reserved addresses (test networks)."),
    ] = False,
    tls_ca_file: Annotated[
        Path | None, typer.Option(help="Extra CA certificates (PEM) to trust for STARTTLS.")
    ] = None,
    proxy: Annotated[
        str | None,
        typer.Option(help="Connect through a SOCKS proxy: socks5://[user:pass@]host:port"),
    ] = None,
    source_address: Annotated[
        str | None, typer.Option(help="Local IP address to connect from.")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="List mode: reuse fresh answers from the service's store (sqlite:///PATH or "
            "postgresql://…) and keep new ones there."
        ),
    ] = None,
) -> None:
    """Probe addresses: MX lookup, SMTP dialogue up to RCPT TO (never DATA), verdict."""
    lang = _lang(lang)
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
    addresses = addresses or []
    if file is None and len(addresses) == 1 and output is None and db is None:
        result = asyncio.run(probe(addresses[0], options))
        _show(result, json_output, lang, verbose)
        raise typer.Exit(VERDICT_STATUS[result.verdict])
    if not addresses and file is None:
        raise typer.BadParameter("give at least one address, or --file", param_hint="ADDRESSES")
    if output_format not in ("jsonl", "csv", "text"):
        raise typer.BadParameter("use jsonl, csv or text", param_hint="--format")
    from prober.engine.bulk import ListOptions, run_list

    for name, value, least in (
        ("--concurrency", concurrency, 1),
        ("--per-host", per_host, 1),
        ("--rcpt-per-transaction", rcpt_per_transaction, 1),
        ("--rcpt-per-session", rcpt_per_session, 1),
    ):
        if value < least:
            raise typer.BadParameter(f"must be at least {least}", param_hint=name)
    if rate is not None and rate <= 0:
        raise typer.BadParameter("must be more than 0", param_hint="--rate")
    if greylist_retry is not None and greylist_retry < 0:
        raise typer.BadParameter("must not be negative", param_hint="--greylist-retry")

    list_options = ListOptions(
        probe=options,
        concurrency=concurrency,
        per_host=per_host,
        rate=rate,
        rcpt_per_transaction=rcpt_per_transaction,
        greylist_retry=greylist_retry,
        format=output_format,
        output=output,
        resume=resume,
        column=column,
        progress=sys.stderr.isatty() and not quiet,
        rcpt_per_session=rcpt_per_session,
        quiet=quiet,
    )
    if db is not None:
        from prober.service.cached_list import run_cached

        raise typer.Exit(run_cached(addresses, file, list_options, db, stdout=sys.stdout,
                                    stderr=sys.stderr))
    code = run_list(addresses, file, list_options, stdout=sys.stdout, stderr=sys.stderr)
    raise typer.Exit(code)


def _colour() -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _show(result: ProbeResult, as_json: bool, lang: str, verbose: bool) -> None:
    if as_json:
        _echo_json(result.to_dict())
    else:
        typer.echo(result_text(result, lang, verbose, _colour()))


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
    lang: LangOption = "en",
) -> None:
    """Explain an SMTP reply code, an enhanced status code, a reply text or a bounce."""
    lang = _lang(lang)
    text = " ".join(what)
    data: bytes | None = None
    if text == "-":
        data = sys.stdin.buffer.read(10 * 1024 * 1024 + 1)
    elif len(what) == 1 and "\n" not in text and len(text) < 4096 and Path(text).is_file():
        with open(text, "rb") as handle:
            data = handle.read(10 * 1024 * 1024 + 1)
    elif len(what) == 1 and text.lower().endswith((".eml", ".msg", ".txt")) and " " not in text:
        raise InputError(f"Cannot read {text}: no such file.")
    if data is not None:
        if len(data) > 10 * 1024 * 1024:
            raise InputError("The bounce is larger than 10 MB; prober reads at most 10 MB.")
        _explain_bounce(data, json_output, lang)
        return
    why = explain_text(text, lang)
    if json_output:
        _echo_json(why.to_dict())
    else:
        typer.echo(explanation_text(why))


def _explain_bounce(data: bytes, as_json: bool, lang: str) -> None:
    from prober.explanation.bounce import parse_bounce

    bounce = parse_bounce(data, lang)
    if as_json:
        _echo_json(bounce.to_dict())
        return
    if not bounce.recipients:
        no = {
            "en": "No failed recipient was recognised in this input.",
            "it": "In questo testo non è stato riconosciuto alcun destinatario respinto.",
        }
        typer.echo(no[lang])
        raise typer.Exit(ExitStatus.UNKNOWN)
    for recipient in bounce.recipients:
        head = recipient.address or "?"
        details = [x for x in (recipient.action, recipient.status) if x]
        typer.echo(f"{head}" + (f"  ({', '.join(details)})" if details else ""))
        if recipient.diagnostic:
            typer.echo(f"  {recipient.diagnostic}")
        typer.echo(explanation_text(recipient.explanation, "  "))
        typer.echo("")


@app.command()
def demo(
    address: Annotated[
        str | None,
        typer.Argument(help="Probe one address of the demo world, with its full transcript."),
    ] = None,
    json_output: JsonOption = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show every transcript.")
    ] = False,
    lang: LangOption = "en",
) -> None:
    """Run prober against its embedded loopback world (no internet needed)."""
    from prober.testing.demo import ADDRESSES, demo_options, demo_world

    lang = _lang(lang)

    async def run() -> list[tuple[str, ProbeResult]]:
        async with demo_world() as world:
            options = demo_options(world, ProbeOptions(lang=lang))
            todo = [(address, "")] if address is not None else list(ADDRESSES)
            results = await asyncio.gather(*(probe(a, options) for a, _ in todo))
            return [(what, r) for (_, what), r in zip(todo, results, strict=True)]

    outcomes = asyncio.run(run())
    if json_output:
        for _, result in outcomes:
            typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    if address is not None or verbose:
        for _, result in outcomes:
            typer.echo(result_text(result, lang, verbose, _colour()))
            typer.echo("")
        return
    width = max(len(r.address) for _, r in outcomes)
    for what, result in outcomes:
        typer.echo(f"{result.address:<{width}}  {result.verdict.value:<13} {result.reason.value}")
        typer.echo(f"{'':<{width}}  {what}: {result.summary}")
    typer.echo("")
    typer.echo("See one transcript with: probe demo alice@example.test")


def _severity_status(worst: object) -> ExitStatus:
    """diagnose / preflight: 1 when an error was found, 3 for warnings only, else 0."""
    value = str(worst) if worst is not None else ""
    if value == "error":
        return ExitStatus.UNDELIVERABLE
    if value == "warning":
        return ExitStatus.RISKY
    return ExitStatus.DELIVERABLE


def _dns_config(dns_server: list[str] | None, dns_timeout: float) -> DNSConfig:
    try:
        servers = tuple(parse_dns_server(s) for s in (dns_server or []))
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dns-server") from None
    return DNSConfig(servers=servers, timeout=dns_timeout)


DnsServerOption = Annotated[
    list[str] | None,
    typer.Option(help="DNS server HOST[:PORT] to ask (repeatable; default: the system's)."),
]
DnsTimeoutOption = Annotated[float, typer.Option(help="Seconds per DNS lookup.")]
AllowPrivateOption = Annotated[
    bool,
    typer.Option(help="Allow loopback, private and reserved addresses (test networks)."),
]
ProxyOption = Annotated[
    str | None,
    typer.Option(help="Connect through a SOCKS proxy: socks5://[user:pass@]host:port"),
]
SourceOption = Annotated[str | None, typer.Option(help="Local IP address to connect from.")]
HeloOption = Annotated[str, typer.Option(help="Name for EHLO (default: this host's FQDN).")]


@app.command()
def diagnose(
    domain: Annotated[str, typer.Argument(help="The domain whose mail servers to examine.")],
    json_output: JsonOption = False,
    lang: LangOption = "en",
    dns_server: DnsServerOption = None,
    dns_timeout: DnsTimeoutOption = 5.0,
    port: Annotated[int, typer.Option(help="SMTP port of the mail servers.")] = 25,
    helo: HeloOption = "",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each step.")] = 15.0,
    deadline: Annotated[float, typer.Option(help="Seconds for the whole diagnosis.")] = 120.0,
    allow_private: AllowPrivateOption = False,
    tls_ca_file: Annotated[
        Path | None, typer.Option(help="Extra CA certificates (PEM) to trust for STARTTLS.")
    ] = None,
    no_relay_test: Annotated[
        bool, typer.Option(help="Skip the open-relay test (a RCPT to a foreign domain).")
    ] = False,
    no_null_sender_test: Annotated[
        bool, typer.Option(help="Skip the test that the null sender <> is accepted.")
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
        typer.echo(render_diagnosis(result, lang))
    raise typer.Exit(_severity_status(result.worst))


@app.command()
def preflight(
    json_output: JsonOption = False,
    lang: LangOption = "en",
    helo: HeloOption = "",
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="Mail host HOST[:PORT] to test outbound port 25 against (repeatable; "
            "default: well-known MX hosts of several providers)."
        ),
    ] = None,
    check_ip: Annotated[
        str | None, typer.Option(help="Also look this IP up on DNS blocklists.")
    ] = None,
    blocklist: Annotated[
        list[str] | None,
        typer.Option(help="DNS blocklist zone for --check-ip (repeatable)."),
    ] = None,
    dns_server: DnsServerOption = None,
    dns_timeout: DnsTimeoutOption = 5.0,
    timeout: Annotated[float, typer.Option(help="Seconds per connection attempt.")] = 10.0,
    deadline: Annotated[float, typer.Option(help="Seconds for the whole check.")] = 60.0,
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
    targets: list[tuple[str, int]] = []
    for item in target or []:
        host, _, port_text = item.rpartition(":") if item.count(":") == 1 else (item, "", "")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            host, port_text = item, "25"
        targets.append((host, int(port_text)))
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
        typer.echo(render_preflight(result, lang))
    raise typer.Exit(_severity_status(result.worst))


from prober.service.cli import app as _service_app  # noqa: E402 - probe serve, probe keys

app.add_typer(_service_app)
from prober.workers.cli import app as _workers_app  # noqa: E402 - worker, submit, job

app.add_typer(_workers_app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``probe ADDRESS`` is ``probe check ADDRESS``."""
    args = list(sys.argv[1:] if argv is None else argv)
    traceback = "--traceback" in args
    args = [a for a in args if a != "--traceback"]
    if args and args[0] in ("--version", "-V"):
        typer.echo(f"prober {__version__}")
        raise SystemExit(0)
    if args and args[0] not in (*COMMANDS, "--help", "-h"):
        args.insert(0, "check")
    try:
        # standalone_mode=False: errors come back here, to the one handler below.
        status = app(args=args, prog_name="probe", standalone_mode=False)
    except typer.Exit as exit_:
        raise SystemExit(exit_.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("probe: interrupted", err=True)
        raise SystemExit(ExitStatus.INTERRUPTED) from None
    except ProberError as exc:
        if traceback:
            raise
        typer.echo(f"probe: {exc}", err=True)
        raise SystemExit(ExitStatus.ERROR) from None
    except Exception as exc:  # the one central handler: usage errors and the unexpected
        if isinstance(exc, typer.Abort):
            typer.echo("probe: interrupted", err=True)
            raise SystemExit(ExitStatus.INTERRUPTED) from None
        show = getattr(exc, "show", None)
        if isinstance(exc, TyperException) and callable(show):
            show()  # a usage error: typer's own one-paragraph message
            raise SystemExit(ExitStatus.ERROR) from None
        if traceback:
            raise
        typer.echo(
            f"probe: unexpected error: {type(exc).__name__}: {exc} (run with --traceback "
            "for details)",
            err=True,
        )
        raise SystemExit(ExitStatus.ERROR) from None
    raise SystemExit(status if isinstance(status, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
