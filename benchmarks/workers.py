"""List jobs on 1, 2 and 3 workers against real Postfix behind a round-trip time.

    python benchmarks/workers.py [--list zipf|even] [--workers 1,2,3] [--concurrency 20]
                                 [--per-host 2] [--rtt-ms 50] [--quick] [--json-out FILE]

The world is :mod:`realworld`'s (one private Postfix hosting d000.test … d199.test, the
latency proxy counting connections per MX host, the loopback DNS server), the list its
Zipf list (5,000 addresses over 200 domains), or ``--list even`` (the same 5,000 spread
evenly, 25 a domain), or ``--quick`` (100 over 5). For each number
of workers it makes a fresh PostgreSQL database and an empty Redis database, starts that
many ``probe worker`` processes, submits the list with ``probe submit``, and times the
job from submission to its last row; every verdict is checked against the list's, and
the proxy's count of connections open at once per MX host is compared with
``--per-host``. The broker and the database come from PROBER_TEST_REDIS and
PROBER_TEST_POSTGRES (``.ci/setup-redis``, ``.ci/setup-postgres``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import realworld  # noqa: E402
import realworld_lists as lists  # noqa: E402
from latency import LatencyProxy  # noqa: E402
from realworld_client import HELO, MAIL_FROM  # noqa: E402


class _EofReader:
    """A reader that reports the moment its stream ends (the server closed its side)."""

    def __init__(self, inner: asyncio.StreamReader, on_eof: Any) -> None:
        self.inner, self.on_eof, self.ended = inner, on_eof, False

    async def read(self, n: int = -1) -> bytes:
        try:
            data = await self.inner.read(n)
        except OSError:
            data = b""
        if not data and not self.ended:
            self.ended = True
            self.on_eof()
        return data


class ServerSideProxy(LatencyProxy):
    """The latency proxy, also counting what the **server** sees: a connection is open
    at the server from the moment the server accepted it until the server closed it
    (the proxy's own count runs from the client's connect until the close is back at
    the client, a round trip longer at each end)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_open: Counter[str] = Counter()
        self.server_peak: Counter[str] = Counter()

    def reset_server(self) -> None:
        self.server_peak = Counter(self.server_open)

    async def _forward(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        count = self.counts[host]
        count.opened += 1
        count.open += 1
        count.peak = max(count.peak, count.open)
        self.open += 1
        self.peak = max(self.peak, self.open)
        up_writer: asyncio.StreamWriter | None = None
        at_server = False

        def closed_at_server() -> None:
            nonlocal at_server
            if at_server:
                at_server = False
                self.server_open[host] -= 1

        try:
            await asyncio.sleep(self.rtt)  # the TCP handshake's round trip
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.target), 10
                )
            except (OSError, TimeoutError):
                return
            at_server = True
            self.server_open[host] += 1
            self.server_peak[host] = max(self.server_peak[host], self.server_open[host])
            await asyncio.gather(
                self._pipe(reader, up_writer),
                self._pipe(_EofReader(up_reader, closed_at_server), writer),  # type: ignore[arg-type]
            )
        finally:
            closed_at_server()
            count.open -= 1
            self.open -= 1
            for w in (writer, up_writer):
                if w is not None:
                    w.close()


realworld.LatencyProxy = ServerSideProxy  # type: ignore[misc]  # the world's proxy counts both


def fresh_database(admin_url: str) -> str:
    import psycopg

    name = "prober_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def one_run(
    world: realworld.World, listing: lists.Listing, workers: int, args: argparse.Namespace,
    redis_url: str, admin_url: str, scratch: Path,
) -> dict[str, Any]:
    import redis

    from prober.workers.jobs import status as job_status
    from prober.workers.store import FleetStore

    assert world.proxy is not None and world.dns is not None
    broker = redis_url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(broker).flushdb()
    db = fresh_database(admin_url)
    folder = scratch / f"workers-{workers}"
    folder.mkdir()
    source = folder / "list.txt"
    source.write_text("".join(a + "\n" for a in listing.addresses), encoding="utf-8")
    common = [
        "--broker", broker, "--db", db, "--dns-server", f"{world.dns.host}:{world.dns.port}",
        "--port", str(world.proxy.port), "--allow-private", "--helo", HELO,
        "--mail-from", MAIL_FROM,
    ]  # fmt: skip
    procs = []
    for n in range(workers):
        with (folder / f"worker{n}.log").open("wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "prober", "worker", *common, "--name", f"w{n}",
                 "--concurrency", str(args.concurrency), "--per-host", str(args.per_host)],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            ))
    store = FleetStore(db)
    try:
        # Time the job, not the start: wait until every worker has reported once.
        for _ in range(240):
            try:
                up = await asyncio.to_thread(store.fleet)
            except Exception:  # noqa: BLE001 - the tables are not there until one migrated
                up = []
            if len(up) >= workers:
                break
            await asyncio.sleep(0.25)
        world.proxy.reset()
        proxy = world.proxy
        assert isinstance(proxy, ServerSideProxy)
        proxy.reset_server()
        began = time.monotonic()
        submitted = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "prober", "submit", "--file", str(source),
            "--broker", broker, "--db", db, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        out, err = await submitted.communicate()
        if submitted.returncode != 0:
            raise RuntimeError(err.decode())
        job = out.decode().strip()
        while True:
            found = await asyncio.to_thread(job_status, store, job)
            if found.status == "done" or time.monotonic() - began > args.timeout:
                break
            await asyncio.sleep(0.25)
        wall = time.monotonic() - began
        per_host = world.proxy.snapshot()
        got: dict[str, str] = {}
        rows = await asyncio.to_thread(store.result_rows, job, -1, 10**7)
        for _row, _cells, result in rows:
            data = json.loads(result)
            got[data["address"]] = data["verdict"]
        wrong = realworld.judge(listing.expected, got)
        shares = [
            {"worker": s.worker, "results": s.results, "per_s": round(s.rate, 1)}
            for s in found.workers
        ]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.close()
        drop_database(admin_url, db)
    count = len(listing.addresses)
    return {
        "workers": workers,
        "concurrency": args.concurrency,
        "status": found.status,
        "addresses": count,
        "done": found.done,
        "wall_s": round(wall, 2),
        "addresses_per_s": round(count / wall, 1),
        "connections_opened": sum(h["opened"] for h in per_host.values()),
        "peak_open": world.proxy.peak,
        "peak_per_host_max": max((h["peak"] for h in per_host.values()), default=0),
        "hosts_over_limit": sum(h["peak"] > args.per_host for h in per_host.values()),
        "server_peak_per_host_max": max(proxy.server_peak.values(), default=0),
        "server_hosts_over_limit": sum(n > args.per_host for n in proxy.server_peak.values()),
        "verdicts": dict(Counter(got.values())),
        "verdicts_right": not wrong and len(got) == count,
        "wrong_count": len(wrong),
        "shares": shares,
    }


def render(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["addresses_per_s"] if rows else 1.0
    lines = [
        "workers  wall s  addr/s  speed-up  conns  peak open  peak/host (proxy, server)  "
        "over limit (proxy, server)  right",
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>7}  {r['wall_s']:>6}  {r['addresses_per_s']:>6}  "
            f"{r['addresses_per_s'] / base:>7.2f}x  {r['connections_opened']:>5}  "
            f"{r['peak_open']:>9}  {r['peak_per_host_max']:>17}, "
            f"{r.get('server_peak_per_host_max', '-'):<6} "
            f"{r['hosts_over_limit']:>19}, {r.get('server_hosts_over_limit', '-'):<6}  "
            f"{'yes' if r['verdicts_right'] else 'NO'}"
        )
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    redis_url = os.environ.get("PROBER_TEST_REDIS")
    admin_url = os.environ.get("PROBER_TEST_POSTGRES")
    if not redis_url or not admin_url:
        raise SystemExit("set PROBER_TEST_REDIS and PROBER_TEST_POSTGRES (.ci/setup-redis, "
                         ".ci/setup-postgres)")
    rtt = (args.rtt_ms if args.rtt_ms is not None else (10 if args.quick else 50)) / 1000
    if args.quick:
        listing = lists.quick_list()
    elif args.list == "even":
        listing = lists.even_list(5000, 200)
    else:
        listing = lists.zipf_list()
    scratch = Path(tempfile.mkdtemp(prefix="prober-workers-"))
    world = realworld.World(scratch, rtt, [listing])
    rows = []
    try:
        await world.start()
        for workers in (int(n) for n in args.workers.split(",")):
            print(f"running {listing.name} on {workers} worker(s) …", file=sys.stderr, flush=True)
            rows.append(await one_run(world, listing, workers, args, redis_url, admin_url,
                                      scratch))
            print(render(rows), file=sys.stderr, flush=True)
    finally:
        await world.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"rtt_ms": rtt * 1000, "per_host": args.per_host, "runs": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument(
        "--list", choices=("zipf", "even"), default="zipf",
        help="zipf: 5,000 addresses over 200 domains, Zipf-sized; even: 25 at each of them",
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--rtt-ms", type=float, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json-out")
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(run(args))
    except realworld.Unavailable as exc:
        print(f"cannot start the world here: {exc}", file=sys.stderr)
        return 2
    print(render(result["runs"]))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
