"""The fleet's store: a job is marked done once its last row is, however that happens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from service_kit import POSTGRES, database

pytest.importorskip("dramatiq")

from prober.service.store import RowResult  # noqa: E402
from prober.workers.store import FleetStore  # noqa: E402


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    POSTGRES is None, reason="PROBER_TEST_POSTGRES is not set"))])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FleetStore]:
    with database(request.param, tmp_path) as url:
        found = FleetStore(url)
        found.migrate()
        try:
            yield found
        finally:
            found.close()


def _done(row_no: int) -> RowResult:
    return RowResult(row_no, "done", 1, None, "deliverable", '{"verdict": "deliverable"}')


def test_a_redelivered_batch_finds_its_rows_written_and_finishes_the_job(
    store: FleetStore,
) -> None:
    store.add_job("j", None, "en", "lines", ("address",), [("a@x.test", [])])
    assert not store.finish_if_complete("j")  # a row is still open
    store.save_results("j", "w", [_done(0)])
    found = store.job("j")
    assert found is not None and found.status == "done"
    assert store.finish_if_complete("j")  # asking again changes nothing


def test_mx_routes_are_stored_refreshed_and_expire(store: FleetStore) -> None:
    store.remember_routes({f"d{n}.test": f"mx{n % 3}.test" for n in range(1200)}, 100.0, 50.0)
    found = store.routes([f"d{n}.test" for n in range(1200)], 120.0)
    assert found == {f"d{n}.test": f"mx{n % 3}.test" for n in range(1200)}
    store.remember_routes({"d1.test": "mx.moved.test"}, 200.0, 50.0)
    assert store.routes(["d1.test", "d2.test"], 220.0) == {"d1.test": "mx.moved.test"}
