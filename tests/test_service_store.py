"""The service's parts without HTTP: migrations, cache policy, list parsing, translation,
and the engine's stream, against real databases and the loopback mail world."""

from __future__ import annotations

import csv
import dataclasses
import io
import random
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from service_kit import POSTGRES, database

from prober.engine.session import probe
from prober.engine.verdict import Reason, Verdict
from prober.errors import InputError
from prober.output.listio import ADDED_FIELDS
from prober.service.engine import Engine, EngineLimits, figures
from prober.service.lists import csv_header, csv_row, parse_upload
from prober.service.settings import DAY, MINUTE, Settings, parse_ttl
from prober.service.store import Store
from prober.service.translate import in_language
from prober.testing.world import MailHandler, MailHost
from tests.conftest import options_for, world_of

DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(POSTGRES is None, reason="PROBER_TEST_POSTGRES is not set"),
    ),
]


@pytest.mark.parametrize("kind", DATABASES)
def test_migrations_build_exactly_the_schema_the_code_uses(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = Store(url)
        try:
            store.migrate()
            store.migrate()  # a second start changes nothing
            with store.engine.connect() as c:
                differences = compare_metadata(MigrationContext.configure(c), store_metadata())
                version = c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert differences == []
            assert version == "0002"
            if kind == "sqlite":
                with store.engine.connect() as c:
                    assert c.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        finally:
            store.close()


def store_metadata() -> sa.MetaData:
    """Every table the code uses: the service's, and the workers' (the same metadata)."""
    import prober.workers.store  # noqa: F401 - registers the workers' tables
    from prober.service.store import metadata

    return metadata


@pytest.mark.parametrize("kind", DATABASES)
def test_the_cache_keeps_an_answer_until_it_expires(kind: str, tmp_path: Path) -> None:
    with database(kind, tmp_path) as url:
        store = Store(url)
        try:
            store.migrate()
            data = {"en": {"verdict": "deliverable"}, "it": {"verdict": "deliverable"}}
            store.remember("a@x.test", "deliverable", "accepted", data, 100.0, 200.0,
                           ("x.test", True, 200.0))
            assert store.cached("a@x.test", 150.0) == (100.0, data)
            assert store.cached("a@x.test", 200.0) is None
            assert store.catch_all("x.test", 150.0) is True
            store.remember("a@x.test", "unknown", "greylisted", data, 300.0, 400.0)
            assert store.cached("a@x.test", 350.0) == (300.0, data)  # replaced, not doubled
            key, secret = store.create_key("k", daily_quota=3)
            assert store.use(key.id, "2026-01-01", 2, 3) == 2
            assert store.use(key.id, "2026-01-01", 2, 3) is None
            assert store.use(key.id, "2026-01-02", 3, 3) == 3
            assert store.key_for(secret) == key
            assert store.revoke_key("k") and store.key_for(secret) is None
        finally:
            store.close()


def _result(reason: Reason, retry_after: int | None = None) -> Any:
    from prober.results import ProbeResult

    verdicts = {Reason.ACCEPTED: Verdict.DELIVERABLE, Reason.CATCH_ALL: Verdict.RISKY,
                Reason.MAILBOX_UNKNOWN: Verdict.UNDELIVERABLE}
    return ProbeResult("a@x.test", "a@x.test", verdicts.get(reason, Verdict.UNKNOWN), reason,
                       "", None, None, retry_after, None, (), 0.1)


def test_lifetimes_by_verdict_reason_and_hint() -> None:
    settings = Settings(ttl=parse_ttl(["risky=60", "blocked=5"]))
    assert settings.expires(_result(Reason.ACCEPTED), 0) == 7 * DAY
    assert settings.expires(_result(Reason.CATCH_ALL), 0) == 60
    assert settings.expires(_result(Reason.BLOCKED), 0) == 5
    assert settings.expires(_result(Reason.DEADLINE), 0) == 10 * MINUTE
    assert settings.expires(_result(Reason.GREYLISTED, 120), 0) == 120
    with pytest.raises(InputError, match="VERDICT=SECONDS"):
        parse_ttl(["sometimes=3"])
    with pytest.raises(InputError):
        parse_ttl(["deliverable=-1"])


def test_temporary_answers_are_asked_again_at_the_hint_then_later() -> None:
    settings = Settings(retry_base=100, retry_tries=3)
    assert settings.retry_delay(_result(Reason.GREYLISTED, 30), 1) == 30
    assert settings.retry_delay(_result(Reason.GREYLISTED, 30), 2) == 60
    assert settings.retry_delay(_result(Reason.GREYLISTED, 30), 3) is None
    assert settings.retry_delay(_result(Reason.TEMPORARY_FAILURE), 1) == 100
    assert settings.retry_delay(_result(Reason.ACCEPTED), 1) is None
    assert settings.retry_delay(_result(Reason.BLOCKED), 1) is None


def test_no_auth_needs_a_loopback_bind() -> None:
    Settings(auth=False, host="127.0.0.1")
    Settings(auth=False, host="::1")
    with pytest.raises(InputError, match="loopback"):
        Settings(auth=False, host="0.0.0.0")


def test_uploads_are_read_with_their_columns() -> None:
    named = parse_upload(b"id;x\n", "lines", None, 10)
    assert named.rows == (("id;x", ["id;x"]),)
    csv_upload = parse_upload("\ufeffName,E-Mail\nA,a@x.test\n".encode(), "csv", None, 10)
    assert csv_upload.columns == ("Name", "E-Mail")
    assert csv_upload.rows == (("a@x.test", ["A", "a@x.test"]),)
    headless = parse_upload(b"1,a@x.test,z\n2,b@x.test,y\n", "csv", None, 10)
    assert headless.columns == ("column1", "column2", "column3")
    assert [r[0] for r in headless.rows] == ["a@x.test", "b@x.test"]
    chosen = parse_upload(b"who,other\nx@y.test,z\n", "csv", "WHO", 10)
    assert chosen.rows[0][0] == "x@y.test"
    with pytest.raises(InputError, match="no column 'mail2'"):
        parse_upload(b"who\nx@y.test\n", "csv", "mail2", 10)
    with pytest.raises(InputError, match="at most 1 per upload"):
        parse_upload(b"a@x.test\nb@x.test\n", "lines", None, 1)
    with pytest.raises(InputError, match="Line 2"):
        parse_upload(b'"a@x.test"\n{"name": 1}\n', "jsonl", None, 10)
    with pytest.raises(InputError, match="not UTF-8"):
        parse_upload(b"a@x.test\n\xff\n", "lines", None, 10)
    header = csv_header(csv_upload.columns)
    assert header.startswith("Name,E-Mail,verdict,reason,summary")
    row = csv_row("csv", csv_upload.columns, ["A"], {"verdict": "risky", "catch_all": True})
    assert row.startswith("A,,risky,,") and ",true," in row


def test_uploads_and_results_speak_list_modes_csv() -> None:
    # An Italian spreadsheet's CSV: ";" between cells, a comma inside one.
    upload = parse_upload(
        "\ufeffNome;Email;Note\nRossi, Mario;mario@x.test;a\n".encode(), "csv", None, 10
    )
    assert upload.columns == ("Nome", "Email", "Note")
    assert upload.rows == (("mario@x.test", ["Rossi, Mario", "mario@x.test", "a"]),)
    # The added columns are list mode's own, then the cache's two.
    header = csv_header(upload.columns).rstrip("\r\n").split(",")
    assert header[3:] == [*ADDED_FIELDS, "cached", "checked_at"]
    # A result cell a spreadsheet would run as a formula is written inert; the
    # uploaded cells come back as they were.
    result = {"verdict": "undeliverable", "normalized": "=1+1@x.test", "cached": False}
    row = next(csv.reader(io.StringIO(csv_row("csv", upload.columns, ["=A1", "b", "c"], result))))
    record = dict(zip(header, row, strict=True))
    assert record["Nome"] == "=A1"
    assert record["normalized"] == "'=1+1@x.test" and record["cached"] == "false"


HOSTS = {
    "example.test.": [("MX", 10, "mx.example.test.")],
    "mx.example.test.": [("A", "127.0.0.2")],
    "greylist.test.": [("MX", 10, "mx.greylist.test.")],
    "mx.greylist.test.": [("A", "127.0.0.3")],
}


def _mail() -> list[MailHost]:
    handler = MailHandler(
        rcpt={"alice@example.test": "250 2.1.5 OK",
              "sam@greylist.test": "450 4.7.1 Greylisted, try again in 5 minutes"},
        default="550 5.1.1 <x>: Recipient address rejected: User unknown in local recipient "
        "table",
    )
    return [MailHost("mx.example.test", "127.0.0.2", handler),
            MailHost("mx.greylist.test", "127.0.0.3", handler)]


def _timeless(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _timeless(v) for k, v in data.items()
                if k not in ("started_ms", "elapsed_ms")}
    if isinstance(data, list):
        return [_timeless(v) for v in data]
    return data


@pytest.mark.parametrize(
    "address", ["alice@example.test", "bob@example.test", "sam@greylist.test", "bad address"]
)
async def test_a_result_in_italian_is_the_italian_probe(address: str) -> None:
    async with world_of(HOSTS, _mail()) as world:
        english = await probe(address, options_for(world), rng=random.Random(3))
        italian = await probe(address, options_for(world, lang="it"), rng=random.Random(3))
    assert _timeless(in_language(english, "it").to_dict()) == _timeless(italian.to_dict())
    assert _timeless(in_language(italian, "en").to_dict()) == _timeless(english.to_dict())


async def test_the_engine_pairs_every_item_with_its_result() -> None:
    @dataclasses.dataclass(frozen=True)
    class Item:
        row: int
        address: str

    items = [Item(0, "alice@example.test"), Item(1, "bob@example.test"), Item(2, "not one"),
             Item(3, "alice@example.test"), Item(4, "sam@greylist.test")]
    async with world_of(HOSTS, _mail()) as world:
        async with Engine(options_for(world), EngineLimits(per_host=1)) as engine:
            got = {item.row: result async for item, result in engine.stream(items)}
            single = await engine.submit("bob@example.test")
    assert sorted(got) == [0, 1, 2, 3, 4]
    assert {row: str(r.reason) for row, r in got.items()} == {
        0: "accepted", 1: "mailbox_unknown", 2: "syntax", 3: "accepted", 4: "greylisted"}
    assert got[4].retry_after == 300
    assert single.reason is Reason.MAILBOX_UNKNOWN
    now = figures(engine)
    assert now.queued == 0 and now.active == 0
