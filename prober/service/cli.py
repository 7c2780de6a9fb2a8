"""``probe serve`` and ``probe keys``: the service's commands (registered by prober.cli).

Importing this module needs only typer (and prober.cli_options, the probe options it
shares with ``probe check``); the web stack is imported when a command runs,
so ``probe`` works without the ``[service]`` extra installed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer

from prober import cli_options as common
from prober.cli_words import LANGUAGE
from prober.errors import InputError
from prober.output.messages import message

if TYPE_CHECKING:
    from prober.service.store import Store

app = typer.Typer(add_completion=False, rich_markup_mode=None)
keys_app = typer.Typer(
    help="Manage the API keys of the service (stored hashed in its database).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        metavar="URL",
        envvar="PROBER_DB",
        help="Database: sqlite:///PATH (default) or postgresql://USER:PASS@HOST:PORT/DB "
        "(also PROBER_DB).",
    ),
]


def _need_service() -> None:
    try:
        import fastapi  # noqa: F401
        import sqlalchemy  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise InputError("error_service_needs", package=exc.name, dist="smtp-prober") from None


@app.command(context_settings={"help_option_names": ["-h", "--help"]})
def serve(
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.")] = 8025,
    db: DbOption = "sqlite:///prober.db",
    no_auth: Annotated[
        bool, typer.Option(help="Serve without API keys (only with a loopback --host).")
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ORIGIN", help="Origin allowed to call the API from a browser (repeatable)."
        ),
    ] = None,
    rate_per_minute: Annotated[
        int, typer.Option(metavar="N", help="Requests a minute per key (a key may have its own).")
    ] = 60,
    daily_quota: Annotated[
        int, typer.Option(metavar="N", help="Addresses a day per key (a key may have its own).")
    ] = 10000,
    max_body: Annotated[int, typer.Option(metavar="BYTES", help="Bytes of a request body.")] = 1024
    * 1024,
    max_list_bytes: Annotated[
        int, typer.Option(metavar="BYTES", help="Bytes of a list upload.")
    ] = 20 * 2**20,
    max_list_rows: Annotated[
        int, typer.Option(metavar="N", help="Rows of a list upload.")
    ] = 100_000,
    cache_ttl: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME=SECONDS",
            help="Cache lifetime VERDICT=SECONDS or REASON=SECONDS (repeatable; defaults: "
            "deliverable and undeliverable 7 days, risky 1 day, unknown 10 minutes).",
        ),
    ] = None,
    retry_base: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="Seconds before a temporary answer is probed again (doubles)."
        ),
    ] = 300.0,
    retry_tries: Annotated[
        int, typer.Option(metavar="N", help="Probes of an address with temporary answers, at most.")
    ] = 3,
    lang: Annotated[
        str,
        typer.Option(
            metavar="en|it", help="Language the engine explains in (requests may ask en or it)."
        ),
    ] = "en",
    mail_from: common.MailFromOption = None,
    helo: common.HeloOption = "",
    smtp_port: common.PortOption = 25,
    no_starttls: common.NoStarttlsOption = False,
    no_catch_all_check: common.NoCatchAllCheckOption = False,
    dns_server: common.DnsServerOption = None,
    dns_timeout: common.DnsTimeoutOption = 5.0,
    timeout: common.TimeoutOption = 30.0,
    connect_timeout: common.ConnectTimeoutOption = 10.0,
    deadline: common.DeadlineOption = 90.0,
    max_mx: common.MaxMxOption = 3,
    allow_private: Annotated[
        bool,
        typer.Option(
            help="Allow loopback, private and reserved mail servers (test networks only). "
            "No request can lift the guard; only this server setting."
        ),
    ] = False,
    tls_ca_file: common.CaFileOption = None,
    proxy: common.ProxyOption = None,
    source_address: common.SourceOption = None,
    concurrency: Annotated[
        int, typer.Option(metavar="N", help="SMTP connections at once, in all.")
    ] = 20,
    per_host: Annotated[
        int, typer.Option(metavar="N", help="SMTP connections at once to one MX host.")
    ] = 2,
    rate: Annotated[
        float | None,
        typer.Option(metavar="PER_SECOND", help="RCPT commands per second per domain in lists."),
    ] = None,
    rcpt_per_transaction: Annotated[
        int, typer.Option(metavar="N", help="Recipients per MAIL transaction in lists.")
    ] = 20,
    rcpt_per_session: Annotated[
        int, typer.Option(metavar="N", help="Recipients one connection asks about in lists.")
    ] = 100,
    log_level: Annotated[str, typer.Option(metavar="LEVEL", help="uvicorn log level.")] = "info",
    broker: Annotated[
        str | None,
        typer.Option(
            envvar="PROBER_BROKER",
            metavar="URL",
            help="Redis URL (redis://HOST:PORT/DB): hand list jobs (POST /v1/lists) to the "
            "workers started with 'probe worker' instead of this server's engine.",
        ),
    ] = None,
    demo: Annotated[
        bool,
        typer.Option(
            help="Probe the embedded demo world (DNS and mail servers on 127.0.0.0/8, the "
            "domains of 'probe demo') instead of the internet: try the service offline."
        ),
    ] = False,
) -> None:
    """Serve the HTTP API and the web page: one process, one engine for every request."""
    _need_service()
    import uvicorn

    from prober.service.app import create_app
    from prober.service.engine import EngineLimits
    from prober.service.settings import Settings, parse_ttl
    from prober.service.store import ready

    options = common.probe_options(
        lang=common.check_lang(lang),
        mail_from=mail_from,
        helo=helo,
        port=smtp_port,
        no_starttls=no_starttls,
        no_catch_all_check=no_catch_all_check,
        no_pipelining=False,
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
        port_hint="--smtp-port",
    )
    common.check_at_least(
        (
            ("--concurrency", concurrency),
            ("--per-host", per_host),
            ("--rcpt-per-transaction", rcpt_per_transaction),
            ("--rcpt-per-session", rcpt_per_session),
            ("--rate-per-minute", rate_per_minute),
            ("--daily-quota", daily_quota),
            ("--retry-tries", retry_tries),
        )
    )
    settings = Settings(
        probe=options,
        limits=EngineLimits(
            concurrency=concurrency,
            per_host=per_host,
            rate=rate,
            rcpt_per_transaction=rcpt_per_transaction,
            rcpt_per_session=rcpt_per_session,
        ),
        db=db,
        broker=broker,
        host=host,
        port=port,
        auth=not no_auth,
        cors_origins=tuple(cors_origin or ()),
        rate_per_minute=rate_per_minute,
        daily_quota=daily_quota,
        max_body=max_body,
        max_list_bytes=max_list_bytes,
        max_list_rows=max_list_rows,
        ttl=parse_ttl(cache_ttl or []),
        retry_base=retry_base,
        retry_tries=retry_tries,
        demo=demo,
    )
    ready(db).close()  # the schema migrated, or a clear message, before anything listens
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )


def _store(db: str) -> Store:
    _need_service()
    from prober.service.store import ready

    return ready(db)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="A name to recognise the key by.", metavar="NAME")],
    db: DbOption = "sqlite:///prober.db",
    rate_per_minute: Annotated[
        int | None, typer.Option(metavar="N", help="Requests a minute (default: the server's).")
    ] = None,
    daily_quota: Annotated[
        int | None, typer.Option(metavar="N", help="Addresses a day (default: the server's).")
    ] = None,
) -> None:
    """Create a key and print its secret (shown once; only a hash is stored)."""
    if not name.strip() or len(name) > 100:
        raise common.OptionError("option_key_name", "NAME")
    store = _store(db)
    try:
        key, secret = store.create_key(
            name, rate_per_minute=rate_per_minute, daily_quota=daily_quota
        )
    finally:
        store.close()
    typer.echo(secret)
    typer.echo(message("key_created", LANGUAGE.get(), name=key.name), err=True)


@keys_app.command("list")
def keys_list(
    db: DbOption = "sqlite:///prober.db",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the keys (names, prefixes, limits; never the secrets)."""
    store = _store(db)
    try:
        keys = store.list_keys()
    finally:
        store.close()

    def when(value: float | None) -> str | None:
        if value is None:
            return None
        return dt.datetime.fromtimestamp(value, dt.UTC).isoformat(timespec="seconds")

    rows = [
        {
            "name": k.name,
            "prefix": k.prefix,
            "created_at": when(k.created_at),
            "revoked_at": when(k.revoked_at),
            "rate_per_minute": k.rate_per_minute,
            "daily_quota": k.daily_quota,
        }
        for k in keys
    ]
    if json_output:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(message("keys_none", LANGUAGE.get()))
        return
    lang = LANGUAGE.get()
    for row in rows:
        state = (
            message("key_revoked_at", lang, when=row["revoked_at"])
            if row["revoked_at"]
            else message("key_active", lang)
        )
        created = message("key_created_at", lang, when=row["created_at"])
        typer.echo(f"{row['name']:<24} {row['prefix']}…  {state}  {created}")


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name.", metavar="NAME")],
    db: DbOption = "sqlite:///prober.db",
) -> None:
    """Revoke a key: requests with it are refused from now on."""
    store = _store(db)
    try:
        revoked = store.revoke_key(name)
    finally:
        store.close()
    if not revoked:
        raise InputError("error_no_key", name=name)
    typer.echo(message("key_revoked", LANGUAGE.get(), name=name))
