"""The workers: three ``probe worker`` processes on one list over Redis and PostgreSQL.

Needs a real broker and database (``.ci/setup-redis``, ``.ci/setup-postgres``): set
PROBER_TEST_REDIS and PROBER_TEST_POSTGRES; without them these tests are skipped. The
mail world runs in this process (scripted SMTP servers on 127.0.0.x that count the
connections open at once, as the server sees them).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prober.testing.world import MailHost, ThreadedWorld

sys.path.insert(0, str(Path(__file__).parent))
from service_kit import POSTGRES, Counting, database  # noqa: E402

REDIS = os.environ.get("PROBER_TEST_REDIS")
pytestmark = [
    pytest.mark.skipif(REDIS is None, reason="PROBER_TEST_REDIS is not set (.ci/setup-redis)"),
    pytest.mark.skipif(POSTGRES is None, reason="PROBER_TEST_POSTGRES is not set"),
]
ROOT = Path(__file__).resolve().parent.parent


class Host(Counting):
    """Counting, plus when each connection came; ``refuse_first`` answers the first
    connection 421 (a host asking to be left alone) and hangs up."""

    def __init__(self, delay: float, refuse_first: bool = False) -> None:
        super().__init__(delay)
        self.refuse_first = refuse_first
        self.times: list[float] = []
        self.spans: list[tuple[float, float]] = []  # (accepted, closed) of each connection
        self.refused_at: float | None = None

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        began = time.time()
        try:
            await self._serve(reader, writer)
        finally:
            self.spans.append((began, time.time()))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.times.append(time.time())
        if self.refuse_first:
            self.refuse_first = False
            writer.write(b"421 4.7.0 Too many connections, slow down\r\n")
            await writer.drain()
            self.refused_at = time.time()
            writer.close()
            return
        await super().__call__(reader, writer)


def world(hosts: dict[str, Host]) -> ThreadedWorld:
    records: dict[str, list[Any]] = {}
    mail = []
    for i, (domain, script) in enumerate(sorted(hosts.items())):
        mx = f"mx.{domain}"
        ip = f"127.0.0.{20 + i}"
        records[f"{domain}."] = [("MX", 10, f"{mx}.")]
        records[f"{mx}."] = [("A", ip)]
        mail.append(MailHost(mx, ip, script=script))
    return ThreadedWorld(records, mail)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    with database("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
def broker() -> str:
    import redis

    assert REDIS is not None
    url = REDIS.rsplit("/", 1)[0] + "/7"
    redis.Redis.from_url(url).flushdb()
    return url


class Fleet:
    """``probe worker`` subprocesses over one world."""

    def __init__(self, broker: str, db: str, w: ThreadedWorld, tmp: Path, **opts: Any) -> None:
        self.broker, self.db, self.world, self.tmp, self.opts = broker, db, w, tmp, opts
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *extra: str) -> None:
        dns = "{}:{}".format(*self.world.dns_address)
        args = [
            sys.executable, "-m", "prober", "worker", "--broker", self.broker, "--db", self.db,
            "--name", name, "--port", str(self.world.port), "--dns-server", dns,
            "--allow-private", "--no-starttls", "--timeout", "10", "--deadline", "60",
        ]
        for key, value in self.opts.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        args += extra
        with (self.tmp / f"{name}.log").open("wb") as log:
            self.procs[name] = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log")
        )


def probe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "prober", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=120,
    )


def submit(path: Path, broker: str, db: str) -> str:
    done = probe("submit", "--file", str(path), "--broker", broker, "--db", db)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_done(job: str, db: str, fleet: Fleet, limit: float) -> dict[str, Any]:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        done = probe("job", "status", job, "--db", db, "--json")
        assert done.returncode == 0, done.stderr
        status: dict[str, Any] = json.loads(done.stdout)
        if status["status"] == "done":
            return status
        time.sleep(0.5)
    raise AssertionError(f"job not done in {limit} s: {status}\n{fleet.logs()}")


def test_three_workers_one_killed_every_address_once_per_host_limit_held(
    broker: str, db: str, tmp_path: Path
) -> None:
    hosts = {f"w{i}.test": Host(delay=0.2) for i in range(5)}
    addresses = [
        f"{'user' if n % 3 else 'nobody'}{n}@w{i}.test" for i in range(5) for n in range(48)
    ]
    listing = tmp_path / "list.csv"
    with listing.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "email", "note"])
        for n, address in enumerate(addresses):
            writer.writerow([n, address, f"note {n}"])
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=4, per_host=2, batch=6,
                      redelivery_timeout=3, lease=8)
        try:
            for name in ("a", "b", "c"):
                fleet.start(name)
            job = submit(listing, broker, db)
            # Kill "a" once it has written results and is in the middle of more.
            end = time.monotonic() + 60
            while time.monotonic() < end:
                status = json.loads(probe("job", "status", job, "--db", db, "--json").stdout)
                shares = {s["worker"]: s["results"] for s in status["workers"]}
                if shares.get("a", 0) >= 6:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"worker a wrote nothing\n{fleet.logs()}")
            fleet.kill("a")
            killed_at = status["done"]
            status = wait_done(job, db, fleet, 120)
        finally:
            fleet.stop()
        most = {domain: host.most for domain, host in hosts.items()}

    assert killed_at < len(addresses), "the kill came after the job was finished"
    assert status["total"] == status["done"] == len(addresses)
    # Each row is written once: the workers' shares add up to the rows, no more.
    assert sum(s["results"] for s in status["workers"]) == len(addresses)
    assert {s["worker"] for s in status["workers"]} >= {"b", "c"}
    # Counted at the servers: never more than --per-host connections to one MX at once.
    assert max(most.values()) <= 2, most
    assert max(most.values()) == 2, most  # the limit was reached, so it was what held
    got = probe("job", "results", job, "--db", db, "--format", "csv")
    assert got.returncode == 0, got.stderr
    rows = list(csv.DictReader(io.StringIO(got.stdout)))
    assert [r["email"] for r in rows] == addresses  # input order, input columns kept
    assert [r["note"] for r in rows] == [f"note {n}" for n in range(len(addresses))]
    for row in rows:
        want = "deliverable" if row["email"].startswith("user") else "undeliverable"
        assert row["verdict"] == want, row
    lines = probe("job", "results", job, "--db", db, "--format", "jsonl").stdout.splitlines()
    assert sorted(json.loads(line)["row"] for line in lines) == list(range(len(addresses)))


def test_a_421_pauses_the_host_for_every_worker(broker: str, db: str, tmp_path: Path) -> None:
    backoff = 3.0
    hosts = {"slow.test": Host(delay=0.05, refuse_first=True), "fine.test": Host(delay=0.05)}
    addresses = [f"user{n}@slow.test" for n in range(30)] + [
        f"user{n}@fine.test" for n in range(30)
    ]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=4, per_host=2, batch=5,
                      backoff=backoff, redelivery_timeout=5)
        try:
            for name in ("a", "b", "c"):
                fleet.start(name)
            job = submit(listing, broker, db)
            status = wait_done(job, db, fleet, 90)
        finally:
            fleet.stop()
        slow = sorted(hosts["slow.test"].times)
        refused = hosts["slow.test"].refused_at
    assert status["verdicts"] == {"deliverable": 60}, status
    # The first connection got 421. A connection already on its way before the worker
    # that read it wrote the pause may still arrive (under load, a few tenths of a
    # second); after that, no worker comes back before the pause is over.
    assert refused is not None
    later = [t - refused for t in slow if t > refused + 0.5]
    assert later, slow
    assert min(later) >= backoff * 0.95, [round(t - refused, 2) for t in slow]
    # The pause was the fleet's (set in Redis by the worker that read the 421): its other
    # batches of the host waited for it, sent back to the broker or (having joined that
    # worker's sessions before the 421) inside its engine; either way the times above.
    pauses = sum(f.get("pauses", {}).get("mx.slow.test", 0) for f in status["fleet"])
    assert pauses >= 1, status["fleet"]


async def test_a_pause_another_worker_set_holds_this_workers_next_connection(
    broker: str, db: str
) -> None:
    """A worker that holds a slot of a host opens no connection there while another
    worker's 421 has paused it, and goes on by itself when the pause ends."""
    from prober.engine.core import EngineLimits
    from prober.engine.verdict import Reason
    from prober.workers.fleet import Fleet as Worker
    from prober.workers.fleet import FleetConfig
    from tests.conftest import options_for, world_of

    host = Host(delay=0.0)
    zone = {"held.test.": [("MX", 10, "mx.held.test.")], "mx.held.test.": [("A", "127.0.0.2")]}
    async with world_of(zone, [MailHost("mx.held.test", "127.0.0.2", script=host)]) as w:
        worker = Worker(
            FleetConfig(broker=broker, db=db, per_host=1, backoff=1.5),
            options_for(w, catch_all_check=False, timeout=5.0, deadline=30.0),
            EngineLimits(),
        )
        try:
            lease = worker.leases.take("mx.held.test")
            assert lease is not None
            worker.slots.add("mx.held.test", lease)
            began = time.time()
            worker.pause("mx.held.test")  # as the worker that read a 421 would
            result = await worker.engine().submit("user1@held.test")
        finally:
            await worker.close()
    assert result.reason is Reason.ACCEPTED, result
    assert host.times and host.times[0] - began >= 1.4, [t - began for t in host.times]


def test_cancel_and_unknown_job(broker: str, db: str, tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("user1@nowhere.test\n")
    job = submit(listing, broker, db)
    done = probe("job", "cancel", job, "--db", db)
    assert done.returncode == 0 and "cancelled" in done.stdout
    status = json.loads(probe("job", "status", job, "--db", db, "--json").stdout)
    assert status["status"] == "cancelled" and status["pending"] == 1
    missing = probe("job", "status", "nosuchjob", "--db", db)
    assert missing.returncode == 2
    assert "There is no job 'nosuchjob'" in missing.stderr and "Traceback" not in missing.stderr


def test_a_worker_serves_its_figures_on_metrics(broker: str, db: str, tmp_path: Path) -> None:
    import re

    import httpx

    hosts = {"one.test": Host(delay=0.01)}
    addresses = [f"user{n}@one.test" for n in range(7)] + ["nobody@one.test", "not an address"]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=2, batch=4)
        try:
            fleet.start("m", "--metrics-port", "0")
            job = submit(listing, broker, db)
            status = wait_done(job, db, fleet, 60)
            found = None
            for _ in range(50):
                found = re.search(r"/metrics on (http://\S+)", (tmp_path / "m.log").read_text())
                if found:
                    break
                time.sleep(0.1)
            assert found, fleet.logs()
            text = httpx.get(found.group(1), timeout=10).text
        finally:
            fleet.stop()
    assert status["verdicts"] == {"deliverable": 7, "undeliverable": 2}
    figures = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert float(figures["prober_worker_results_total"]) == 9
    assert float(figures["prober_worker_sessions_in_flight"]) == 0
    assert 'prober_worker_host_wait_seconds_total{host="mx.one.test"}' in figures


def test_one_engine_per_worker_asks_a_domain_about_catch_all_once(
    broker: str, db: str, tmp_path: Path
) -> None:
    # Eight batches of one domain on one worker: the worker's engine outlives each
    # batch, so the made-up address of the catch-all check is asked once, not eight times.
    hosts = {"one.test": Host(delay=0.01)}
    addresses = [f"{'user' if n % 4 else 'nobody'}{n}@one.test" for n in range(40)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=2, per_host=1, batch=5)
        try:
            fleet.start("solo")
            job = submit(listing, broker, db)
            status = wait_done(job, db, fleet, 90)
        finally:
            fleet.stop()
        asked = list(hosts["one.test"].rcpts)
    assert status["verdicts"] == {"deliverable": 30, "undeliverable": 10}, status
    made_up = [a for a in asked if a not in addresses]
    assert len(made_up) == 1, made_up
    assert sorted(a for a in asked if a in addresses) == sorted(addresses)  # each once


def test_a_killed_workers_slot_comes_back_after_its_lease(
    broker: str, db: str, tmp_path: Path
) -> None:
    # One slot for the host. Worker "a" holds it in a slow session and is killed with
    # kill -9; its lease (6 s) lapses unrenewed, and worker "b" connects long before
    # "a"'s unacknowledged batch is redelivered (40 s), which then finishes the job with
    # every address once.
    lease, redelivery = 6.0, 40.0
    host = Host(delay=0.4)
    hosts = {"slow.test": host}
    addresses = [f"user{n}@slow.test" for n in range(24)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=1, per_host=1, batch=4,
                      lease=lease, redelivery_timeout=redelivery)
        try:
            fleet.start("a")
            job = submit(listing, broker, db)
            end = time.monotonic() + 30
            while host.open == 0 and time.monotonic() < end:
                time.sleep(0.05)
            assert host.open == 1, fleet.logs()
            time.sleep(0.5)  # in the middle of its session
            fleet.kill("a")
            killed = time.time()
            before = len(host.times)
            fleet.start("b")
            end = time.monotonic() + 30
            while len(host.times) == before and time.monotonic() < end:
                time.sleep(0.05)
            assert len(host.times) > before, fleet.logs()
            back = host.times[before] - killed
            print(f"the killed worker's slot was used again {back:.1f} s after the kill")
            status = wait_done(job, db, fleet, 120)
        finally:
            fleet.stop()
    # The slot lapses between two thirds of the lease and the lease after the kill (it
    # was renewed every third); "b" asks again within a few seconds of that.
    assert lease * 0.6 <= back < lease + 8, back
    assert back < redelivery
    assert host.most == 1
    assert status["done"] == status["total"] == len(addresses)
    assert status["verdicts"] == {"deliverable": len(addresses)}
    assert sum(s["results"] for s in status["workers"]) == len(addresses)


def test_submit_reads_a_large_list_in_bounded_memory(broker: str, tmp_path: Path) -> None:
    # Peak memory of ``probe submit`` for 200,000 lines is within a few megabytes of its
    # peak for ten lines: the list is never held whole.
    script = (
        "import atexit, resource, sys\n"
        "atexit.register(lambda: print('maxrss', resource.getrusage(resource.RUSAGE_SELF)"
        ".ru_maxrss, file=sys.stderr))\n"
        "from prober.cli import main\n"
        "sys.argv = ['probe'] + sys.argv[1:]\n"
        "main()\n"
    )

    def peak(lines: int) -> int:
        listing = tmp_path / f"list{lines}.csv"
        with listing.open("w") as out:
            out.write("email,note\n")
            for n in range(lines):
                out.write(f"user{n % 1000}@d{n % 50}.test,\"row {n}, as given\"\n")
        db = f"sqlite:///{tmp_path / f'jobs{lines}.db'}"
        done = subprocess.run(
            [sys.executable, "-c", script, "submit", "--file", str(listing), "--broker",
             broker, "--db", db],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert f"{lines} rows handed" in done.stderr
        return int(done.stderr.rsplit("maxrss", 1)[1].split()[0])  # kB

    small, large = peak(10), peak(200_000)
    print(f"probe submit peak RSS: {small} kB for 10 lines, {large} kB for 200,000")
    assert large - small < 20_000, (small, large)  # kB; the whole list would take ~100 MB


def test_sessions_that_spend_the_error_budget_hand_over_and_stay_within_the_limit(
    broker: str, db: str, tmp_path: Path
) -> None:
    # Half the addresses are unknown: every session spends its error budget (ten
    # refusals) and says QUIT without waiting for the answer. The server still holds
    # that connection until it answers, so the next session waits for it (one slot:
    # never two at the server), and the rest of the list goes on in new sessions.
    host = Host(delay=0.01)
    hosts = {"strict.test": host}
    addresses = [f"{'user' if n % 2 else 'nobody'}{n}@strict.test" for n in range(80)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=4, per_host=1, batch=40)
        try:
            fleet.start("solo")
            job = submit(listing, broker, db)
            status = wait_done(job, db, fleet, 60)
        finally:
            fleet.stop()
    assert status["verdicts"] == {"deliverable": 40, "undeliverable": 40}, status
    assert host.connections >= 4  # ten refusals a session at most: several sessions
    assert host.most == 1


def test_a_busy_hosts_batches_go_to_its_slot_holder_and_its_slot_stays_busy(
    broker: str, db: str, tmp_path: Path
) -> None:
    # One slot for the host, two workers of one thread each. Whichever holds the slot
    # takes the batches the other finds it taken for (left pending in Redis) into its
    # sessions, so the host's sessions follow each other without waiting for batches
    # to come back from the broker; each address is asked once, never two sessions at
    # the server.
    host = Host(delay=0.02)
    hosts = {"big.test": host}
    addresses = [f"{'user' if n % 5 else 'nobody'}{n}@big.test" for n in range(120)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=1, per_host=1, batch=10,
                      rcpt_per_session=10)
        try:
            fleet.start("a")
            fleet.start("b")
            job = submit(listing, broker, db)
            status = wait_done(job, db, fleet, 90)
            time.sleep(2.5)  # the figures of the last moments reach the store
            status = json.loads(probe("job", "status", job, "--db", db, "--json").stdout)
        finally:
            fleet.stop()
    assert status["verdicts"] == {"deliverable": 96, "undeliverable": 24}, status
    assert host.most == 1
    assert sorted(a for a in host.rcpts if a in addresses) == sorted(addresses)  # each once
    takeovers = sum(sum(f.get("takeovers", {}).values()) for f in status["fleet"])
    handovers = sum(sum(f.get("handovers", {}).values()) for f in status["fleet"])
    assert takeovers >= 1 and handovers >= takeovers, status["fleet"]
    spans = sorted(host.spans)
    gaps = [later[0] - earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)]
    busy = sum(end - start for start, end in spans) / (spans[-1][1] - spans[0][0])
    print(f"{len(spans)} sessions, slot busy {busy:.0%}, longest gap {max(gaps, default=0):.2f} s")
    assert len(spans) >= 12  # ten addresses a session at most
    # With the batches bounced through the broker (before the pending list), the slot
    # was busy 81 % of that time.
    assert busy >= 0.9, (busy, gaps)
    assert max(gaps, default=0.0) < 1.0, gaps


def test_rows_a_killed_holder_took_over_come_back_to_the_fleet(
    broker: str, db: str, tmp_path: Path
) -> None:
    # One slot for the host, two workers: the one holding it takes the batches the other
    # finds it taken for. The holder is killed with kill -9 while it works on rows it
    # took over: its claim is only as good as its lease, so once the lease lapses those
    # batches, coming back from the broker, do the rows themselves, and every address is
    # written once.
    import redis

    lease = 6.0
    host = Host(delay=0.15)
    hosts = {"slow.test": host}
    addresses = [f"user{n}@slow.test" for n in range(60)]
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    client = redis.Redis.from_url(broker)
    with world(hosts) as w:
        fleet = Fleet(broker, db, w, tmp_path, concurrency=1, per_host=1, batch=6,
                      lease=lease, redelivery_timeout=15)
        try:
            for name in ("a", "b"):
                fleet.start(name)
            end = time.monotonic() + 60
            while time.monotonic() < end and not all(
                "ready" in (tmp_path / f"{name}.log").read_text() for name in ("a", "b")
            ):
                time.sleep(0.1)
            job = submit(listing, broker, db)
            holder = None
            end = time.monotonic() + 60
            while holder is None and time.monotonic() < end:
                for key in client.scan_iter("prober:claim:*"):
                    value = client.get(key)
                    done = client.exists(key.replace(b":claim:", b":done:"))
                    if value is not None and not done:
                        holder = value.decode().split(":", 1)[0]
                time.sleep(0.05)
            assert holder in ("a", "b"), fleet.logs()
            fleet.kill(holder)
            status = wait_done(job, db, fleet, 120)
        finally:
            fleet.stop()
    assert status["done"] == status["total"] == len(addresses)
    assert status["verdicts"] == {"deliverable": len(addresses)}
    assert sum(s["results"] for s in status["workers"]) == len(addresses)  # each row once
    assert host.most == 1
