"""``probe worker``, ``probe submit`` and ``probe job``: list jobs on Dramatiq workers
(registered by prober.cli). Importing this module needs only typer and
prober.cli_options (the probe options shared with ``probe check``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from prober import cli_options as common
from prober.cli_words import LANGUAGE
from prober.errors import InputError
from prober.output.messages import message

app = typer.Typer(add_completion=False, rich_markup_mode=None)
job_app = typer.Typer(
    help="Follow a list job the workers run: status, results, cancel.", no_args_is_help=True
)
app.add_typer(job_app, name="job")

CONTEXT = {"help_option_names": ["-h", "--help"]}

BrokerOption = Annotated[
    str,
    typer.Option(
        "--broker",
        metavar="URL",
        envvar="PROBER_BROKER",
        help="Redis broker URL: redis://HOST:PORT/DB (also PROBER_BROKER).",
    ),
]
DbOption = Annotated[
    str,
    typer.Option(
        "--db",
        metavar="URL",
        envvar="PROBER_DB",
        help="Database: sqlite:///PATH or postgresql://USER:PASS@HOST:PORT/DB (also PROBER_DB).",
    ),
]


def _need() -> None:
    try:
        import dramatiq  # noqa: F401
        import redis  # noqa: F401
        import sqlalchemy  # noqa: F401
    except ImportError as exc:
        raise InputError("error_workers_need", package=exc.name, dist="smtp-prober") from None


@app.command(context_settings=CONTEXT)
def worker(
    broker: BrokerOption,
    db: DbOption,
    concurrency: Annotated[
        int,
        typer.Option(metavar="N", help="Batches (one SMTP session each) this worker runs at once."),
    ] = 20,
    per_host: Annotated[
        int,
        typer.Option(
            metavar="N", help="Connections at once to one MX host, from all workers together."
        ),
    ] = 2,
    batch: Annotated[
        int, typer.Option(metavar="N", help="Addresses per unit of work (one MX host).")
    ] = 100,
    redelivery_timeout: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds without a heartbeat before a worker's work goes to another.",
        ),
    ] = 60.0,
    lease: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="Seconds a killed worker's slot of an MX host stays taken; a live "
            "worker renews its slots every third of it.",
        ),
    ] = 30.0,
    backoff: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="First fleet-wide pause of a host that says 421 (doubles)."
        ),
    ] = 30.0,
    retry_base: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="Seconds before a temporary answer is probed again (doubles)."
        ),
    ] = 300.0,
    retry_tries: Annotated[
        int, typer.Option(metavar="N", help="Probes of an address with temporary answers, at most.")
    ] = 3,
    rate: Annotated[
        float | None,
        typer.Option(metavar="PER_SECOND", help="RCPT commands per second per domain, per worker."),
    ] = None,
    rcpt_per_transaction: Annotated[
        int, typer.Option(metavar="N", help="Recipients per MAIL transaction (as in list mode).")
    ] = 100,
    rcpt_per_session: Annotated[
        int, typer.Option(metavar="N", help="Recipients one connection asks about before QUIT.")
    ] = 100,
    metrics_host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address /metrics listens on.")
    ] = "127.0.0.1",
    metrics_port: Annotated[
        int, typer.Option(metavar="PORT", help="Port of /metrics (0: any free port, -1: none).")
    ] = -1,
    name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="This worker's name in job status (default: host:pid)."),
    ] = None,
    lang: common.LangOption = "en",
    mail_from: common.MailFromOption = None,
    helo: common.HeloOption = "",
    port: common.PortOption = 25,
    no_starttls: common.NoStarttlsOption = False,
    no_catch_all_check: common.NoCatchAllCheckOption = False,
    dns_server: common.DnsServerOption = None,
    dns_timeout: common.DnsTimeoutOption = 5.0,
    timeout: common.TimeoutOption = 30.0,
    connect_timeout: common.ConnectTimeoutOption = 10.0,
    deadline: common.DeadlineOption = 90.0,
    max_mx: common.MaxMxOption = 3,
    allow_private: common.AllowPrivateOption = False,
    tls_ca_file: common.CaFileOption = None,
    proxy: common.ProxyOption = None,
    source_address: common.SourceOption = None,
) -> None:
    """Run a worker: take batches of list jobs from the broker and probe them with this
    process's own engine, connections and source address (or proxy), until stopped."""
    _need()
    from prober.engine import EngineLimits
    from prober.workers.fleet import FleetConfig
    from prober.workers.run import run_worker

    if proxy and source_address:
        raise common.OptionError("option_proxy_or_source", "--proxy")
    common.check_at_least(
        (
            ("--concurrency", concurrency),
            ("--per-host", per_host),
            ("--batch", batch),
            ("--retry-tries", retry_tries),
            ("--rcpt-per-transaction", rcpt_per_transaction),
            ("--rcpt-per-session", rcpt_per_session),
            ("--redelivery-timeout", redelivery_timeout),
        )
    )
    common.check_at_least((("--lease", lease),), 3)
    common.check_at_least((("--backoff", backoff), ("--retry-base", retry_base)), 0)
    if rate is not None and rate <= 0:
        raise common.OptionError("option_more_than_0", "--rate")
    options = common.probe_options(
        lang=common.check_lang(lang),
        mail_from=mail_from,
        helo=helo,
        port=port,
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
    )
    limits = EngineLimits(
        concurrency=concurrency,
        rate=rate,
        rcpt_per_transaction=rcpt_per_transaction,
        rcpt_per_session=rcpt_per_session,
    )
    config = FleetConfig(
        broker=broker,
        db=db,
        per_host=per_host,
        batch=batch,
        redelivery=redelivery_timeout,
        lease=lease,
        backoff=backoff,
        retry_base=retry_base,
        retry_tries=retry_tries,
    )
    raise typer.Exit(
        run_worker(
            config,
            options,
            limits,
            concurrency=concurrency,
            name=name,
            metrics=None if metrics_port < 0 else (metrics_host, metrics_port),
        )
    )


@app.command(context_settings=CONTEXT)
def submit(
    file: Annotated[
        Path,
        typer.Option(
            "--file", "-f", metavar="FILE", help="The list: CSV, JSON lines or one address a line."
        ),
    ],
    broker: BrokerOption,
    db: DbOption,
    column: Annotated[
        str | None, typer.Option(metavar="NAME", help="CSV column holding the addresses.")
    ] = None,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            envvar="PROBER_LANG",
            metavar="en|it",
            help="Language of the results: en or it.",
        ),
    ] = "en",
) -> None:
    """Store a list as a job and hand it to the workers; prints the job id."""
    _need()
    from prober.workers.fleet import FleetConfig
    from prober.workers.jobs import submit as submit_job

    job_id, total = submit_job(
        FleetConfig(broker=broker, db=db), file, column=column, lang=common.check_lang(lang)
    )
    typer.echo(job_id)
    typer.echo(message("job_submitted", LANGUAGE.get(), total=total, job=job_id), err=True)


@job_app.command(context_settings=CONTEXT)
def status(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The id 'probe submit' printed.")],
    db: DbOption,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Total, done, verdicts, rows waiting for a re-probe, and each worker's rate."""
    _need()
    import json

    from prober.workers.jobs import open_store
    from prober.workers.jobs import status as job_status

    store = open_store(db)
    try:
        found = job_status(store, job_id)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(found.text(LANGUAGE.get()))


@job_app.command(context_settings=CONTEXT)
def results(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The id 'probe submit' printed.")],
    db: DbOption,
    format: Annotated[
        str,
        typer.Option(
            "--format", metavar="FORMAT", help="csv (the input's columns, then results) or jsonl."
        ),
    ] = "jsonl",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write to this file (default: stdout)."
        ),
    ] = None,
) -> None:
    """The results written so far, in the order of the input."""
    _need()
    from prober.workers.jobs import open_store
    from prober.workers.jobs import results as job_results

    if format not in ("csv", "jsonl"):
        raise common.OptionError("option_choice", "--format", allowed="'csv', 'jsonl'")
    store = open_store(db)
    try:
        lines = job_results(store, job_id, format)
        if output is None:
            for line in lines:
                sys.stdout.write(line)
        else:
            try:
                with output.open("w", encoding="utf-8", newline="") as out:
                    for line in lines:
                        out.write(line)
            except OSError as exc:
                raise InputError("error_cannot_write_file", path=str(output), why=exc) from None
    finally:
        store.close()


@job_app.command(context_settings=CONTEXT)
def cancel(
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The id 'probe submit' printed.")],
    db: DbOption,
) -> None:
    """Stop a job: the workers drop its batches that have not started; results already
    written stay readable."""
    _need()
    from prober.workers.jobs import open_store

    store = open_store(db)
    try:
        if not store.cancel(job_id):
            raise InputError("error_no_job", job=job_id)
    finally:
        store.close()
    typer.echo(message("job_cancelled", LANGUAGE.get(), job=job_id))
