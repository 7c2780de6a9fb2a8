"""The service's database: results and their cache, list jobs and rows, API keys, usage.

SQLAlchemy Core over SQLite (WAL mode, the embedded default) or PostgreSQL (psycopg),
with one schema for both, created and upgraded by the Alembic migrations shipped in
``prober/service/migrations``. The calls are synchronous and short; the service runs
them in worker threads so the event loop never waits on the disk.

Times are seconds since the epoch (floats), JSON is stored as text: both databases
treat them alike.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from prober.errors import InputError

metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
    sa.Column("rate_per_minute", sa.Integer, nullable=True),
    sa.Column("daily_quota", sa.Integer, nullable=True),
)

usage = sa.Table(
    "usage",
    metadata,
    sa.Column("key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("used", sa.Integer, nullable=False),
)

results = sa.Table(
    "results",
    metadata,
    sa.Column("address", sa.String(320), primary_key=True),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("checked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # {"en": result, "it": result}
)

domains = sa.Table(
    "domains",
    metadata,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("catch_all", sa.Boolean, nullable=False),
    sa.Column("checked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

probes = sa.Table(
    "probes",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_id", sa.Integer, nullable=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("state", sa.String(10), nullable=False),  # pending | waiting | done
    sa.Column("tries", sa.Integer, nullable=False),
    sa.Column("retry_at", sa.Float, nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float, nullable=True),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("key_id", sa.Integer, nullable=True),
    sa.Column("status", sa.String(10), nullable=False),  # queued running waiting done
    sa.Column("lang", sa.String(5), nullable=False),
    sa.Column("kind", sa.String(5), nullable=False),  # csv | jsonl | lines
    sa.Column("columns", sa.Text, nullable=False),  # JSON list: the uploaded CSV header
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

job_rows = sa.Table(
    "job_rows",
    metadata,
    sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("row_no", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("cells", sa.Text, nullable=False),  # JSON: the uploaded row as it was
    sa.Column("state", sa.String(10), nullable=False),  # pending | waiting | done
    sa.Column("tries", sa.Integer, nullable=False),
    sa.Column("retry_at", sa.Float, nullable=True),
    sa.Column("verdict", sa.String(20), nullable=True),
    sa.Column("result", sa.Text, nullable=True),
    sa.Index("ix_job_rows_state", "job_id", "state"),
    sa.Index("ix_job_rows_retry", "state", "retry_at"),
)

KEY_PREFIX = "prb_"


def digest(secret: str) -> str:
    """The stored form of an API key. Keys are 256 random bits, so one SHA-256 suffices:
    a slow password hash defends guessable secrets, and these are not guessable."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def engine_url(url: str) -> str:
    """The SQLAlchemy URL for what the user typed: ``postgresql://`` means psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith(("sqlite://", "postgresql+psycopg://")):
        return url
    raise InputError("error_database_url", url=url)


def open_engine(url: str) -> Engine:
    real = engine_url(url)
    if real.startswith("sqlite"):
        engine = sa.create_engine(real, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: Any) -> None:
            cursor = dbapi.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    return sa.create_engine(real, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (Alembic, run in process)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    where = resources.files("prober.service").joinpath("migrations")
    config.set_main_option("script_location", str(where))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def ready(url: str) -> Store:
    """A store at ``url`` with its schema up to date, or an :class:`InputError` saying why not."""
    store = Store(url)
    try:
        store.migrate()
    except sa.exc.SQLAlchemyError as exc:
        store.close()
        shown = sa.engine.make_url(url).render_as_string(hide_password=True)
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise InputError("error_database_open", url=shown, reason=reason) from None
    return store


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    created_at: float
    revoked_at: float | None
    rate_per_minute: int | None
    daily_quota: int | None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    key_id: int | None
    status: str
    lang: str
    kind: str
    columns: tuple[str, ...]
    total: int
    created_at: float
    started_at: float | None
    finished_at: float | None


@dataclass(frozen=True, slots=True)
class Row:
    """One address of a list job, on its way to the engine (``address`` is what it reads)."""

    job_id: str
    row_no: int
    address: str
    tries: int


@dataclass(frozen=True, slots=True)
class RowResult:
    row_no: int
    state: str  # done | waiting
    tries: int
    retry_at: float | None
    verdict: str
    result: str  # JSON


def _key(row: Any) -> ApiKey:
    return ApiKey(
        row.id, row.name, row.prefix, row.created_at, row.revoked_at,
        row.rate_per_minute, row.daily_quota,
    )


def _job(row: Any) -> Job:
    return Job(
        row.id, row.key_id, row.status, row.lang, row.kind, tuple(json.loads(row.columns)),
        row.total, row.created_at, row.started_at, row.finished_at,
    )


class Store:
    """Every query the service makes, each in its own short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = open_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        with self.engine.connect() as c:
            c.execute(sa.text("SELECT 1"))

    def migrate(self) -> None:
        migrate(self.engine)

    def _begin(self) -> Any:
        return self.engine.begin()

    # -- API keys ------------------------------------------------------------------------

    def create_key(
        self, name: str, *, rate_per_minute: int | None = None, daily_quota: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key; the secret is returned once and only its digest is kept."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._begin() as c:
            if c.execute(sa.select(api_keys.c.id).where(api_keys.c.name == name)).first():
                raise InputError("error_key_exists", name=name)
            new_id = c.execute(
                api_keys.insert().values(
                    name=name, prefix=secret[:12], digest=digest(secret), created_at=time.time(),
                    rate_per_minute=rate_per_minute, daily_quota=daily_quota,
                )
            ).inserted_primary_key[0]
            row = c.execute(sa.select(api_keys).where(api_keys.c.id == new_id)).one()
        return _key(row), secret

    def list_keys(self) -> list[ApiKey]:
        with self._begin() as c:
            return [_key(r) for r in c.execute(sa.select(api_keys).order_by(api_keys.c.id))]

    def revoke_key(self, name: str) -> bool:
        with self._begin() as c:
            done = c.execute(
                api_keys.update()
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
            return bool(done.rowcount)

    def key_for(self, secret: str) -> ApiKey | None:
        with self._begin() as c:
            row = c.execute(
                sa.select(api_keys).where(
                    api_keys.c.digest == digest(secret), api_keys.c.revoked_at.is_(None)
                )
            ).first()
        return None if row is None else _key(row)

    def use(self, key_id: int, day: str, amount: int, quota: int) -> int | None:
        """Count ``amount`` against today's quota; the new total, or None if it would not fit."""
        with self._begin() as c:
            if c.dialect.name == "postgresql":
                c.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key_id})
            used = c.execute(
                sa.select(usage.c.used).where(usage.c.key_id == key_id, usage.c.day == day)
            ).scalar()
            now = (used or 0) + amount
            if now > quota:
                return None
            if used is None:
                c.execute(usage.insert().values(key_id=key_id, day=day, used=now))
            else:
                c.execute(
                    usage.update()
                    .where(usage.c.key_id == key_id, usage.c.day == day)
                    .values(used=now)
                )
            return now

    def used(self, key_id: int, day: str) -> int:
        with self._begin() as c:
            value = c.execute(
                sa.select(usage.c.used).where(usage.c.key_id == key_id, usage.c.day == day)
            ).scalar()
        return int(value or 0)

    # -- the result cache ----------------------------------------------------------------

    def cached(self, address: str, now: float) -> tuple[float, dict[str, Any]] | None:
        """(checked_at, {lang: result}) of a fresh cached result for ``address``."""
        with self._begin() as c:
            row = c.execute(
                sa.select(results.c.checked_at, results.c.data).where(
                    results.c.address == address, results.c.expires_at > now
                )
            ).first()
        return None if row is None else (row.checked_at, json.loads(row.data))

    def remember(
        self,
        address: str,
        verdict: str,
        reason: str,
        data: Mapping[str, Any],
        checked_at: float,
        expires_at: float,
        catch_all: tuple[str, bool, float] | None = None,
    ) -> None:
        with self._begin() as c:
            _upsert(c, results, {"address": address}, {
                "verdict": verdict, "reason": reason, "checked_at": checked_at,
                "expires_at": expires_at, "data": json.dumps(data, ensure_ascii=False),
            })
            if catch_all is not None:
                domain, value, until = catch_all
                _upsert(c, domains, {"domain": domain}, {
                    "catch_all": value, "checked_at": checked_at, "expires_at": until,
                })

    def catch_all(self, domain: str, now: float) -> bool | None:
        with self._begin() as c:
            value = c.execute(
                sa.select(domains.c.catch_all).where(
                    domains.c.domain == domain, domains.c.expires_at > now
                )
            ).scalar()
        return None if value is None else bool(value)

    # -- probes asked for with ?wait=false ----------------------------------------------

    def add_probe(self, probe_id: str, key_id: int | None, address: str, lang: str) -> None:
        with self._begin() as c:
            c.execute(probes.insert().values(
                id=probe_id, key_id=key_id, address=address, lang=lang, state="pending",
                tries=0, created_at=time.time(),
            ))

    def probe_record(self, probe_id: str) -> Any:
        with self._begin() as c:
            return c.execute(sa.select(probes).where(probes.c.id == probe_id)).first()

    def finish_probe(
        self, probe_id: str, state: str, tries: int, retry_at: float | None, result: str
    ) -> None:
        with self._begin() as c:
            c.execute(probes.update().where(probes.c.id == probe_id).values(
                state=state, tries=tries, retry_at=retry_at, result=result,
                finished_at=time.time() if state == "done" else None,
            ))

    def probes_due(self, now: float) -> list[Any]:
        """Probes to run: never finished (a restart), or waiting and due."""
        with self._begin() as c:
            return list(c.execute(sa.select(probes).where(
                (probes.c.state == "pending")
                | ((probes.c.state == "waiting") & (probes.c.retry_at <= now))
            )))

    # -- list jobs -----------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        key_id: int | None,
        lang: str,
        kind: str,
        columns: Sequence[str],
        rows: Iterable[tuple[str, Any]],
    ) -> int:
        """Store a job and all its rows in one transaction; the number of rows."""
        total = 0
        with self._begin() as c:
            c.execute(jobs.insert().values(
                id=job_id, key_id=key_id, status="queued", lang=lang, kind=kind,
                columns=json.dumps(list(columns), ensure_ascii=False), total=0,
                created_at=time.time(),
            ))
            batch: list[dict[str, Any]] = []
            for address, cells in rows:
                batch.append({
                    "job_id": job_id, "row_no": total, "address": address,
                    "cells": json.dumps(cells, ensure_ascii=False), "state": "pending",
                    "tries": 0,
                })
                total += 1
                if len(batch) >= 1000:
                    c.execute(job_rows.insert(), batch)
                    batch = []
            if batch:
                c.execute(job_rows.insert(), batch)
            c.execute(jobs.update().where(jobs.c.id == job_id).values(total=total))
        return total

    def job(self, job_id: str) -> Job | None:
        with self._begin() as c:
            row = c.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        return None if row is None else _job(row)

    def unfinished_jobs(self) -> list[Job]:
        with self._begin() as c:
            rows = c.execute(
                sa.select(jobs).where(jobs.c.status.in_(("queued", "running", "waiting")))
                .order_by(jobs.c.created_at)
            )
            return [_job(r) for r in rows]

    def set_job(self, job_id: str, **values: Any) -> None:
        with self._begin() as c:
            c.execute(jobs.update().where(jobs.c.id == job_id).values(**values))

    def pending_rows(self, job_id: str, after: int, limit: int) -> list[Row]:
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_rows.c.row_no, job_rows.c.address, job_rows.c.tries)
                .where(
                    job_rows.c.job_id == job_id, job_rows.c.state == "pending",
                    job_rows.c.row_no > after,
                )
                .order_by(job_rows.c.row_no)
                .limit(limit)
            )
            return [Row(job_id, r.row_no, r.address, r.tries) for r in rows]

    def save_rows(self, job_id: str, done: Sequence[RowResult]) -> None:
        """Record results of rows, all in one transaction."""
        if not done:
            return
        with self._begin() as c:
            c.execute(
                job_rows.update()
                .where(
                    job_rows.c.job_id == job_id,
                    job_rows.c.row_no == sa.bindparam("b_row"),
                )
                .values(
                    state=sa.bindparam("b_state"), tries=sa.bindparam("b_tries"),
                    retry_at=sa.bindparam("b_retry"), verdict=sa.bindparam("b_verdict"),
                    result=sa.bindparam("b_result"),
                ),
                [
                    {
                        "b_row": r.row_no, "b_state": r.state, "b_tries": r.tries,
                        "b_retry": r.retry_at, "b_verdict": r.verdict, "b_result": r.result,
                    }
                    for r in done
                ],
            )

    def wake_rows(self, now: float) -> list[str]:
        """Waiting rows whose time has come become pending again; the jobs they belong to."""
        with self._begin() as c:
            due = sa.and_(job_rows.c.state == "waiting", job_rows.c.retry_at <= now)
            ids = [r[0] for r in c.execute(sa.select(job_rows.c.job_id).where(due).distinct())]
            if ids:
                c.execute(job_rows.update().where(due).values(state="pending"))
                c.execute(
                    jobs.update().where(jobs.c.id.in_(ids), jobs.c.status == "waiting")
                    .values(status="running", finished_at=None)
                )
        return ids

    def next_retry(self) -> float | None:
        with self._begin() as c:
            a = c.execute(
                sa.select(sa.func.min(job_rows.c.retry_at)).where(job_rows.c.state == "waiting")
            ).scalar()
            b = c.execute(
                sa.select(sa.func.min(probes.c.retry_at)).where(probes.c.state == "waiting")
            ).scalar()
        times = [float(t) for t in (a, b) if t is not None]
        return min(times) if times else None

    def counts(self, job_id: str) -> dict[str, Any]:
        """Rows per state and per verdict (a row waiting for a re-probe has a verdict)."""
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_rows.c.state, job_rows.c.verdict, sa.func.count())
                .where(job_rows.c.job_id == job_id)
                .group_by(job_rows.c.state, job_rows.c.verdict)
            )
            states: dict[str, int] = {}
            verdicts: dict[str, int] = {}
            for state, verdict, number in rows:
                states[state] = states.get(state, 0) + number
                if verdict is not None:
                    verdicts[verdict] = verdicts.get(verdict, 0) + number
        return {"states": states, "verdicts": verdicts}

    def result_rows(self, job_id: str, after: int, limit: int) -> list[tuple[int, str, str]]:
        """(row_no, cells JSON, result JSON) of rows that have a result, in upload order."""
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_rows.c.row_no, job_rows.c.cells, job_rows.c.result)
                .where(
                    job_rows.c.job_id == job_id, job_rows.c.row_no > after,
                    job_rows.c.result.is_not(None),
                )
                .order_by(job_rows.c.row_no)
                .limit(limit)
            )
            return [(r.row_no, r.cells, r.result) for r in rows]

    def delete_job(self, job_id: str) -> bool:
        with self._begin() as c:
            c.execute(job_rows.delete().where(job_rows.c.job_id == job_id))
            return bool(c.execute(jobs.delete().where(jobs.c.id == job_id)).rowcount)

    def iter_all_rows(self, job_id: str) -> Iterator[Any]:
        """Every row of a job (tests and tools)."""
        with self._begin() as c:
            yield from c.execute(
                sa.select(job_rows).where(job_rows.c.job_id == job_id).order_by(job_rows.c.row_no)
            )


def _upsert(c: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Insert or update one row by its primary key, on both databases."""
    if c.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(table).values(**key, **values)
        c.execute(statement.on_conflict_do_update(index_elements=list(key), set_=values))
        return
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    lite = sqlite_insert(table).values(**key, **values)
    c.execute(lite.on_conflict_do_update(index_elements=list(key), set_=values))
