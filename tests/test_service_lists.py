"""Lists that outlive the server (kill -9 and restart), and politeness under a burst."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_kit import POSTGRES, Mail, Server, database, free_port

DATABASES = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(POSTGRES is None, reason="PROBER_TEST_POSTGRES is not set"),
    ),
]


@pytest.fixture()
def mail() -> Iterator[Mail]:
    with Mail() as world:
        yield world


def results(client: httpx.Client, url: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in client.get(url).text.splitlines()]


@pytest.mark.parametrize("kind", DATABASES)
def test_a_list_survives_kill_9_none_lost_none_twice(
    kind: str, mail: Mail, tmp_path: Path
) -> None:
    addresses = [f"slow{i:02d}@slow.test" for i in range(40)]
    port = free_port()
    args = ["--no-auth", "--allow-private", "--per-host", "1", "--rcpt-per-transaction", "4",
            "--rcpt-per-session", "4", *mail.args()]
    with database(kind, tmp_path) as db:
        first = Server(db, args, port).start()
        try:
            with httpx.Client(base_url=first.url, timeout=30) as c:
                job = c.post("/v1/lists", content="\n".join(addresses) + "\n",
                             headers={"content-type": "text/plain"}).json()
                end = time.monotonic() + 60
                while c.get(job["status_url"]).json()["done"] < 8:
                    assert time.monotonic() < end
                    time.sleep(0.05)
                before = results(c, job["results_url"])
                first.kill()  # SIGKILL in the middle of the list
        finally:
            first.stop()
        assert 8 <= len(before) < len(addresses), "the kill came too late to prove anything"

        with Server(db, args, port) as second, httpx.Client(base_url=second.url, timeout=30) as c:
            end = time.monotonic() + 90
            while (status := c.get(job["status_url"]).json())["status"] != "done":
                assert time.monotonic() < end, status
                time.sleep(0.1)
            after = results(c, job["results_url"])

    assert status["total"] == status["done"] == len(addresses)
    assert [r["row"] for r in after] == list(range(len(addresses)))  # none lost, none twice
    assert [r["address"] for r in after] == addresses
    assert {r["verdict"] for r in after} == {"deliverable"}
    # Rows whose results were stored before the kill were not asked about again.
    asked = Counter(mail.slow.rcpts)
    for row in before:
        assert asked[str(row["address"])] == 1, row["address"]
    assert all(asked[a] >= 1 for a in addresses)


def test_a_burst_at_one_mx_host_keeps_within_the_per_host_limit(mail: Mail, tmp_path: Path) -> None:
    mail.busy.delay = 0.02
    args = ["--no-auth", "--allow-private", "--per-host", "2", "--concurrency", "50",
            "--no-catch-all-check", *mail.args()]
    with database("sqlite", tmp_path) as db, Server(db, args) as server:

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as c:
                return await asyncio.gather(*(
                    c.post("/v1/probe", json={"address": f"user{i}@busy.test"})
                    for i in range(200)
                ))

        answers = asyncio.run(burst())
        metrics = httpx.get(server.url + "/metrics").text
    assert [a.status_code for a in answers] == [200] * 200
    assert Counter(a.json()["verdict"] for a in answers) == {"deliverable": 200}
    # Counted at the mail server: never more than --per-host at once (an engine that
    # reuses connections may need fewer than one per address).
    assert 1 <= mail.busy.most <= 2, f"{mail.busy.most} connections at once"
    assert 1 <= mail.busy.connections <= 200
    assert sorted(mail.busy.rcpts) == sorted(f"user{i}@busy.test" for i in range(200))
    assert 'prober_probes_total{verdict="deliverable"} 200.0' in metrics


def test_deleting_a_running_list_stops_it(mail: Mail, tmp_path: Path) -> None:
    args = ["--no-auth", "--allow-private", "--per-host", "1", "--rcpt-per-transaction", "2",
            "--rcpt-per-session", "2", *mail.args()]
    addresses = "".join(f"slow{i}@slow.test\n" for i in range(30))
    with database("sqlite", tmp_path) as db, Server(db, args) as server:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            job = c.post("/v1/lists", content=addresses,
                         headers={"content-type": "text/plain"}).json()
            while c.get(job["status_url"]).json()["done"] < 2:
                time.sleep(0.05)
            assert c.delete(job["status_url"]).status_code == 204
            assert c.get(job["status_url"]).status_code == 404
            asked = len(mail.slow.rcpts)
            time.sleep(1.5)
            assert len(mail.slow.rcpts) <= asked + 2  # at most the session under way
            assert c.get("/healthz").json()["status"] == "ok"
