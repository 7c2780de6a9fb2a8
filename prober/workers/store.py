"""What the workers keep in the service's database, beside its jobs and rows.

The service's :class:`~prober.service.store.Store` already holds a list job as one row per
input line (``job_rows``, keyed by job and row number); the workers add three tables
(migration ``0002``): ``mx_routes`` (the MX host that answers for a domain, cached),
``job_workers`` (how many results each worker wrote for a job, and when) and ``workers``
(each worker's figures, pushed every few seconds).

A result is written only to a row that has none yet (``state`` is not ``done``), under a
row lock on PostgreSQL, so a batch delivered twice — a worker that died after probing
but before its acknowledgement reached the broker — never writes a row twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from prober.service.store import Row, RowResult, Store, _upsert, job_rows, jobs, metadata

mx_routes = sa.Table(
    "mx_routes",
    metadata,
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("checked_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

job_workers = sa.Table(
    "job_workers",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("worker", sa.String(100), primary_key=True),
    sa.Column("results", sa.Integer, nullable=False),
    sa.Column("first_at", sa.Float, nullable=False),
    sa.Column("last_at", sa.Float, nullable=False),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker", sa.String(100), primary_key=True),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("seen_at", sa.Float, nullable=False),
    sa.Column("figures", sa.Text, nullable=False),
)

_MIGRATION_LOCK = 0x70726F62  # "prob"

# Jobs in these states take no more work.
FINAL = ("done", "cancelled")


@dataclass(frozen=True, slots=True)
class WorkerShare:
    """One worker's part in a job."""

    worker: str
    results: int
    first_at: float
    last_at: float

    @property
    def rate(self) -> float:
        """Results per second while it worked on the job."""
        span = self.last_at - self.first_at
        return self.results / span if span > 0 else float(self.results)


class FleetStore(Store):
    """The service's store plus the queries the workers make."""

    def migrate(self) -> None:
        """Upgrade the schema; on PostgreSQL under an advisory lock, since a fleet's
        workers and submitters start at once and each would otherwise race to create it."""
        if self.engine.dialect.name != "postgresql":
            super().migrate()
            return
        with self.engine.connect() as lock:
            lock.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            lock.commit()
            try:
                super().migrate()
            finally:
                lock.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                lock.commit()

    # -- MX routes ----------------------------------------------------------------------

    def routes(self, domains: Iterable[str], now: float) -> dict[str, str]:
        """The cached, unexpired MX host of each of ``domains`` that has one."""
        names = sorted(set(domains))
        found: dict[str, str] = {}
        with self._begin() as c:
            for start in range(0, len(names), 500):
                chunk = names[start : start + 500]
                for row in c.execute(
                    sa.select(mx_routes.c.domain, mx_routes.c.host).where(
                        mx_routes.c.domain.in_(chunk), mx_routes.c.expires_at > now
                    )
                ):
                    found[row.domain] = row.host
        return found

    def remember_routes(self, routes: Mapping[str, str], now: float, ttl: float) -> None:
        """Store (or refresh) domains' MX hosts, five hundred a statement."""
        values = [
            {"domain": domain, "host": host, "checked_at": now, "expires_at": now + ttl}
            for domain, host in sorted(routes.items())
        ]
        with self._begin() as c:
            if c.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            for start in range(0, len(values), 500):
                statement = insert(mx_routes).values(values[start : start + 500])
                c.execute(statement.on_conflict_do_update(
                    index_elements=["domain"],
                    set_={
                        "host": statement.excluded.host,
                        "checked_at": statement.excluded.checked_at,
                        "expires_at": statement.excluded.expires_at,
                    },
                ))

    # -- rows ---------------------------------------------------------------------------

    def rows_between(self, job_id: str, first: int, last: int) -> list[Row]:
        """Rows ``first``..``last`` of a job that have no result yet."""
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_rows.c.row_no, job_rows.c.address, job_rows.c.tries)
                .where(
                    job_rows.c.job_id == job_id,
                    job_rows.c.row_no.between(first, last),
                    job_rows.c.state != "done",
                )
                .order_by(job_rows.c.row_no)
            )
            return [Row(job_id, r.row_no, r.address, r.tries) for r in rows]

    def open_rows(self, job_id: str, row_nos: Sequence[int]) -> list[Row]:
        """Those of ``row_nos`` that have no final result yet."""
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_rows.c.row_no, job_rows.c.address, job_rows.c.tries)
                .where(
                    job_rows.c.job_id == job_id,
                    job_rows.c.row_no.in_(list(row_nos)),
                    job_rows.c.state != "done",
                )
                .order_by(job_rows.c.row_no)
            )
            return [Row(job_id, r.row_no, r.address, r.tries) for r in rows]

    def save_results(self, job_id: str, worker: str, done: Sequence[RowResult]) -> int:
        """Write results to rows that have none yet; how many were written. The job is
        marked done when its last row is."""
        if not done:
            return 0
        now = time.time()
        with self._begin() as c:
            wanted = [r.row_no for r in done]
            query = sa.select(job_rows.c.row_no).where(
                job_rows.c.job_id == job_id,
                job_rows.c.row_no.in_(wanted),
                job_rows.c.state != "done",
            )
            if c.dialect.name == "postgresql":
                query = query.with_for_update()
            still = {r.row_no for r in c.execute(query)}
            fresh = [r for r in done if r.row_no in still]
            if fresh:
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
                            "b_retry": r.retry_at, "b_verdict": r.verdict,
                            "b_result": r.result,
                        }
                        for r in fresh
                    ],
                )
                finished = sum(1 for r in fresh if r.state == "done")
                self._count(c, job_id, worker, finished, now)
        self.finish_if_complete(job_id)
        return len(fresh)

    def finish_if_complete(self, job_id: str) -> bool:
        """Mark the job done if none of its rows is open. Asked after the rows' own
        transaction has committed: two batches that write a job's last rows at once each
        see the other's as still open inside their transactions, but whichever looks
        last, after both commits, sees none."""
        with self._begin() as c:
            open_left = c.execute(
                sa.select(sa.func.count()).where(
                    job_rows.c.job_id == job_id, job_rows.c.state != "done"
                )
            ).scalar()
            if open_left:
                return False
            c.execute(
                jobs.update()
                .where(jobs.c.id == job_id, jobs.c.status.not_in(FINAL))
                .values(status="done", finished_at=time.time())
            )
        return True

    @staticmethod
    def _count(c: Any, job_id: str, worker: str, results: int, now: float) -> None:
        """Add to the worker's count for the job, in one statement (a worker saves many
        batches of one job at once: a read and then an insert would race)."""
        row = {"job_id": job_id, "worker": worker, "results": results, "first_at": now,
               "last_at": now}
        more = {"results": job_workers.c.results + results, "last_at": now}
        if c.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(job_workers).values(**row)
            c.execute(pg.on_conflict_do_update(index_elements=["job_id", "worker"], set_=more))
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            lite = sqlite_insert(job_workers).values(**row)
            c.execute(lite.on_conflict_do_update(index_elements=["job_id", "worker"], set_=more))

    def shares(self, job_id: str) -> list[WorkerShare]:
        with self._begin() as c:
            rows = c.execute(
                sa.select(job_workers).where(job_workers.c.job_id == job_id)
                .order_by(job_workers.c.worker)
            )
            return [WorkerShare(r.worker, r.results, r.first_at, r.last_at) for r in rows]

    def start_job(self, job_id: str) -> None:
        with self._begin() as c:
            c.execute(
                jobs.update().where(jobs.c.id == job_id, jobs.c.status == "queued")
                .values(status="running", started_at=time.time())
            )

    def cancel(self, job_id: str) -> bool:
        """Stop handing out a job's work; False when there is no such job."""
        with self._begin() as c:
            found = c.execute(sa.select(jobs.c.status).where(jobs.c.id == job_id)).scalar()
            if found is None:
                return False
            if found not in FINAL:
                c.execute(
                    jobs.update().where(jobs.c.id == job_id)
                    .values(status="cancelled", finished_at=time.time())
                )
        return True

    # -- worker figures -----------------------------------------------------------------

    def report(self, worker: str, started_at: float, figures: Mapping[str, Any]) -> None:
        with self._begin() as c:
            _upsert(c, workers, {"worker": worker}, {
                "started_at": started_at, "seen_at": time.time(),
                "figures": json.dumps(dict(figures), ensure_ascii=False),
            })

    def fleet(self) -> list[tuple[str, float, dict[str, Any]]]:
        """(worker, seen_at, figures) of every worker that ever reported."""
        with self._begin() as c:
            rows = c.execute(sa.select(workers).order_by(workers.c.worker))
            return [(r.worker, r.seen_at, json.loads(r.figures)) for r in rows]
