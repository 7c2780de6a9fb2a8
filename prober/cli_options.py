"""The probe options every command line shares (``probe check``, ``diagnose``,
``preflight``, ``serve``, ``worker``): one declaration of each option, and
:func:`probe_options`, which turns their values into a checked :class:`ProbeOptions`.

A value that cannot be used is a usage error naming the option, before any packet.
Light on purpose: only typer and prober's small modules, so ``import prober.cli`` stays
fast.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from prober.cli_words import OptionError as OptionError
from prober.errors import InputError
from prober.resolve.mx import DNSConfig, parse_dns_server
from prober.results import ProbeOptions, check_ca_file, check_proxy, check_source_address

LangOption = Annotated[
    str,
    typer.Option(
        "--lang",
        envvar="PROBER_LANG",
        metavar="en|it",
        help="Language of explanations and messages: en or it (also PROBER_LANG).",
    ),
]
MailFromOption = Annotated[
    str | None,
    typer.Option(
        metavar="ADDRESS",
        help='Sender for MAIL FROM, an ASCII address (default: postmaster@<helo>; "" for '
        "the null sender).",
    ),
]
HeloOption = Annotated[
    str, typer.Option(metavar="NAME", help="Name for EHLO (default: this host's FQDN).")
]
PortOption = Annotated[int, typer.Option(metavar="PORT", help="SMTP port of the mail servers.")]
NoStarttlsOption = Annotated[bool, typer.Option("--no-starttls", help="Do not upgrade to TLS.")]
NoCatchAllCheckOption = Annotated[
    bool,
    typer.Option(
        "--no-catch-all-check", help="Skip the extra RCPT that detects catch-all domains."
    ),
]
DnsServerOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="HOST[:PORT]",
        help="DNS server to ask (repeatable; default: the system's).",
    ),
]
DnsTimeoutOption = Annotated[float, typer.Option(metavar="SECONDS", help="Seconds per DNS lookup.")]
TimeoutOption = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds to wait for each reply.")
]
ConnectTimeoutOption = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds to wait for a connection.")
]
DeadlineOption = Annotated[
    float, typer.Option(metavar="SECONDS", help="Seconds for a whole probe, every MX.")
]
MaxMxOption = Annotated[int, typer.Option(metavar="N", help="MX hosts tried at most, best first.")]
AllowPrivateOption = Annotated[
    bool,
    typer.Option(
        "--allow-private",
        help="Allow loopback, private and reserved addresses (test networks).",
    ),
]
CaFileOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Extra CA certificates (PEM) to trust for STARTTLS."),
]
ProxyOption = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        help="Connect through a SOCKS proxy: socks5://[user:pass@]host:port or "
        "socks4://host:port.",
    ),
]
SourceOption = Annotated[
    str | None, typer.Option(metavar="IP", help="Local IP address to connect from.")
]


def check_lang(value: str) -> str:
    """``--lang``: en or it (a locale such as it_IT.UTF-8 is taken as it)."""
    value = value.lower().split("_")[0].split("-")[0]
    if value not in ("en", "it"):
        raise OptionError("option_lang", "--lang", lang=value)
    return value


def check_port(port: int, hint: str = "--port") -> None:
    if not 0 < port < 65536:
        raise OptionError("option_port", hint)


def check_at_least(pairs: Iterable[tuple[str, float]], least: float = 1) -> None:
    """Each (option, value) is at least ``least``, or a usage error names the option."""
    for name, value in pairs:
        if value < least:
            raise OptionError("option_at_least", name, least=f"{least:g}")


def check_seconds(*options: tuple[str, float]) -> None:
    for name, seconds in options:
        if not 0 < seconds < math.inf:
            raise OptionError("option_seconds", name)


def check_network_options(
    proxy: str | None, source_address: str | None, tls_ca_file: Path | None = None
) -> None:
    """--proxy, --source-address and --tls-ca-file, before any packet (usage errors)."""
    for name, value, check in (
        ("--proxy", proxy, check_proxy),
        ("--source-address", source_address, check_source_address),
        ("--tls-ca-file", None if tls_ca_file is None else str(tls_ca_file), check_ca_file),
    ):
        if value is not None:
            try:
                check(value)
            except InputError as exc:
                raise OptionError("option_input", name, error=exc) from None


def dns_config(dns_server: list[str] | None, dns_timeout: float) -> DNSConfig:
    try:
        servers = tuple(parse_dns_server(s) for s in (dns_server or []))
    except InputError as exc:
        raise OptionError("option_input", "--dns-server", error=exc) from None
    return DNSConfig(servers=servers, timeout=dns_timeout)


def probe_options(
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
    port_hint: str = "--port",
) -> ProbeOptions:
    """The options of one probe, each value checked (``port_hint``: the name of the
    SMTP port option in this command, e.g. ``--smtp-port``)."""
    if mail_from is not None and any(c in mail_from for c in "<>\r\n\0 "):
        raise OptionError("option_sender", "--mail-from")
    check_port(port, port_hint)
    check_seconds(
        ("--timeout", timeout),
        ("--connect-timeout", connect_timeout),
        ("--deadline", deadline),
        ("--dns-timeout", dns_timeout),
    )
    check_network_options(proxy, source_address, tls_ca_file)
    check_at_least((("--max-mx", max_mx),))
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
        dns=dns_config(dns_server, dns_timeout),
        lang=lang,
    )
