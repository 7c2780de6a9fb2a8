"""List jobs on 1, 2 and 3 workers against real Postfix behind a round-trip time.

    python benchmarks/workers.py [--list zipf|even|spread] [--workers 1,2,3]
                                 [--concurrency 20] [--per-host 2] [--rtt-ms 50]
                                 [--same-source] [--quick] [--json-out FILE]
                                 [--list-mode] [--profile DIR] [--keep-log DIR]

The world is :mod:`realworld`'s (one private Postfix hosting d000.test … d199.test, the
latency proxy counting connections per MX host, the loopback DNS server), the list its
Zipf list (5,000 addresses over 200 domains), or ``--list even`` (the same 5,000 spread
evenly, 25 a domain), or ``--list spread`` (4,960: 31 at each of the 160 domains with an
MX host of their own, so no host's slots limit the fleet; ``--per-domain`` sets the 31),
or ``--quick`` (100 over 5).

For each number of workers it makes a fresh PostgreSQL database and an empty Redis
database, starts that many ``probe worker`` processes, each with a source address of its
own (127.0.0.2, .3, .4 …; the proxy connects to Postfix from the same address, so
Postfix's per-client limits see one client per worker; ``--same-source``: all from
127.0.0.1), submits the list with ``probe submit``, and times the job from submission to
its last row. Every verdict is checked against the list's; the connections open at once
per MX host are counted by the proxy and as the server sees them; each host's
session-seconds at the server give the **critical path**: a host served by at most
``--per-host`` sessions at once needs at least its session-seconds / per-host, however
many workers there are. CPU seconds of the workers, of this process (proxy and DNS) and
of the whole machine show what the two cores were doing; the critical host's sessions
(accept, close) and its slots' busy share show whether its slots ever idled.
``--list-mode`` first runs the list in plain list mode (``probe check --file``) on the
same world, the yardstick for what a worker adds; ``--profile DIR`` samples each worker
with py-spy (raw stacks); ``--keep-log DIR`` keeps each run's Postfix log, results and
worker logs. The broker and the database
come from PROBER_TEST_REDIS and PROBER_TEST_POSTGRES (``.ci/setup-redis``,
``.ci/setup-postgres``).
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
        self.server_seconds: Counter[str] = Counter()  # per host: sessions' time at the server
        self.clients: Counter[str] = Counter()  # connections per client address
        self.first_open: dict[str, float] = {}  # per host: first accept, last close (server)
        self.spans: dict[str, list[tuple[float, float]]] = {}  # per host: (accept, close)
        self.last_close: dict[str, float] = {}

    def reset_server(self) -> None:
        self.server_peak = Counter(self.server_open)
        self.server_seconds = Counter()
        self.clients = Counter()
        self.first_open = {}
        self.last_close = {}
        self.spans = {}

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
        accepted = 0.0
        client = str(writer.get_extra_info("peername")[0])
        self.clients[client] += 1

        def closed_at_server() -> None:
            nonlocal at_server
            if at_server:
                at_server = False
                self.server_open[host] -= 1
                self.server_seconds[host] += time.monotonic() - accepted
                self.last_close[host] = time.monotonic()
                self.spans.setdefault(host, []).append((accepted, self.last_close[host]))

        try:
            await asyncio.sleep(self.rtt)  # the TCP handshake's round trip
            try:
                # From the client's own address: Postfix's per-client limits (anvil) see
                # each worker as the client it is.
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(*self.target, local_addr=(client, 0)), 10
                )
            except (OSError, TimeoutError):
                return
            at_server = True
            accepted = time.monotonic()
            self.first_open.setdefault(host, accepted)
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


def stop(procs: list[subprocess.Popen[Any]], sig: int, wait: float) -> None:
    """Signal every process, then give each ``wait`` seconds to end before killing it."""
    for proc in procs:
        proc.send_signal(sig)
    for proc in procs:
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()


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
                 "--concurrency", str(args.concurrency), "--per-host", str(args.per_host),
                 *([] if args.same_source else ["--source-address", f"127.0.0.{2 + n}"])],
                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
            ))
    spies: list[subprocess.Popen[bytes]] = []
    log_from = world.log_size()
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
        log_from = world.log_size()
        cpu_from = {proc.pid: cpu_seconds(proc.pid) for proc in procs}
        own_from = own_cpu()
        machine_from = machine_cpu()
        if args.profile:
            # py-spy samples each worker (all threads, idle ones too) for the job's span.
            out_dir = Path(args.profile)
            out_dir.mkdir(parents=True, exist_ok=True)
            for n, proc in enumerate(procs):
                spies.append(subprocess.Popen(
                    ["py-spy", "record", "--pid", str(proc.pid), "--format", "raw", "--idle",
                     "--threads", "--rate", "50", "--output",
                     str(out_dir / f"{listing.name}-{workers}w-w{n}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))
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
        worker_cpu = [round(cpu_seconds(p.pid) - cpu_from[p.pid], 1) for p in procs]
        own = round(own_cpu() - own_from, 1)
        busy, total = (b - a for a, b in zip(machine_from, machine_cpu(), strict=True))
        log_text = world.log_since(log_from)
        per_host = world.proxy.snapshot()
        lateness = world.proxy.lateness()
        got: dict[str, str] = {}
        rows = await asyncio.to_thread(store.result_rows, job, -1, 10**7)
        for _row, _cells, result in rows:
            data = json.loads(result)
            got[data["address"]] = data["verdict"]
        if args.keep_log:
            with (Path(args.keep_log) / f"results-{listing.name}-{workers}w.jsonl").open(
                "w", encoding="utf-8"
            ) as kept:
                kept.writelines(result + "\n" for _row, _cells, result in rows)
        wrong = realworld.judge(listing.expected, got)
        shares = [
            {"worker": s.worker, "results": s.results, "per_s": round(s.rate, 1)}
            for s in found.workers
        ]
    finally:
        stop(spies, signal.SIGINT, 30)
        if args.keep_log:
            (Path(args.keep_log) / f"maillog-{listing.name}-{workers}w").write_text(
                world.log_since(log_from), encoding="utf-8")
        stop(procs, signal.SIGTERM, 60)
        if args.keep_log:
            for n in range(workers):
                shutil.copy(folder / f"worker{n}.log",
                            Path(args.keep_log) / f"worker{n}-{listing.name}-{workers}w.log")
        store.close()
        drop_database(admin_url, db)
    count = len(listing.addresses)
    biggest = max(proxy.server_seconds, key=proxy.server_seconds.__getitem__, default="")
    bound = proxy.server_seconds[biggest] / args.per_host if biggest else 0.0
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
        "clients": dict(proxy.clients),
        # The critical path: the host with the most session-seconds at the server, at
        # --per-host sessions at once, cannot be done sooner than this.
        "critical_host": biggest,
        "critical_host_session_s": round(proxy.server_seconds[biggest], 1) if biggest else 0,
        "critical_path_s": round(bound, 1),
        "critical_share": round(bound / wall, 2) if wall else 0,
        # When the critical host's first session reached the server and its last one
        # left, from the submission: what the host waited for before and after.
        "critical_first_s": round(proxy.first_open.get(biggest, began) - began, 1),
        "critical_last_s": round(proxy.last_close.get(biggest, began) - began, 1),
        # How busy the critical host's slots were between its first session and its
        # last: its session-seconds over per-host × that span (1.0: never idle).
        "critical_busy": round(
            proxy.server_seconds[biggest] / (args.per_host * span), 2
        ) if biggest and (span := proxy.last_close.get(biggest, 0) - proxy.first_open.get(
            biggest, 0)) > 0 else 0,
        # The critical host's sessions at the server, from the submission: (accept, close).
        "critical_sessions": [
            (round(a - began, 2), round(b - began, 2))
            for a, b in sorted(proxy.spans.get(biggest, []))
        ],
        "worker_cpu_s": worker_cpu,
        "bench_cpu_s": own,
        "machine_busy": round(busy / total, 2) if total else 0,
        "proxy_late_ms": {k: round(v, 1) for k, v in lateness.items()},
        "postfix_421": log_text.count(" 421 "),
        "postfix_too_many": log_text.lower().count("too many connections"),
    }


async def list_mode_run(
    world: realworld.World, listing: lists.Listing, args: argparse.Namespace, scratch: Path,
) -> dict[str, Any]:
    """The same list in plain list mode (``probe check --file``, one process, the same
    engine and limits, from 127.0.0.2), counted by the same proxy: the yardstick for
    what one worker adds."""
    assert world.proxy is not None and world.dns is not None
    proxy = world.proxy
    assert isinstance(proxy, ServerSideProxy)
    folder = scratch / "list-mode"
    folder.mkdir()
    source, out = folder / "list.txt", folder / "out.jsonl"
    source.write_text("".join(a + "\n" for a in listing.addresses), encoding="utf-8")
    proxy.reset()
    proxy.reset_server()
    began = time.monotonic()
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "prober", "check", "--file", str(source), "--format", "jsonl",
        "--output", str(out), "--dns-server", f"{world.dns.host}:{world.dns.port}",
        "--port", str(proxy.port), "--allow-private", "--helo", HELO, "--mail-from", MAIL_FROM,
        "--concurrency", str(args.concurrency), "--per-host", str(args.per_host),
        "--quiet", *([] if args.same_source else ["--source-address", "127.0.0.2"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    _out, err = await done.communicate()
    wall = time.monotonic() - began
    got = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        got[data["address"]] = data["verdict"]
    wrong = realworld.judge(listing.expected, got)
    biggest = max(proxy.server_seconds, key=proxy.server_seconds.__getitem__, default="")
    first, last = proxy.first_open.get(biggest, began), proxy.last_close.get(biggest, began)
    return {
        "workers": 0,
        "mode": "list",
        "exit": done.returncode,
        "stderr": err.decode(errors="replace")[-500:],
        "addresses": len(listing.addresses),
        "wall_s": round(wall, 2),
        "addresses_per_s": round(len(listing.addresses) / wall, 1),
        "connections_opened": sum(h["opened"] for h in proxy.snapshot().values()),
        "server_peak_per_host_max": max(proxy.server_peak.values(), default=0),
        "verdicts_right": not wrong and len(got) == len(listing.addresses),
        "critical_host": biggest,
        "critical_host_session_s": round(proxy.server_seconds[biggest], 1) if biggest else 0,
        "critical_path_s": round(proxy.server_seconds[biggest] / args.per_host, 1),
        "critical_first_s": round(first - began, 1),
        "critical_last_s": round(last - began, 1),
        "critical_busy": round(proxy.server_seconds[biggest] / (args.per_host * (last - first)), 2)
        if last > first else 0,
        "critical_sessions": [
            (round(a - began, 2), round(b - began, 2))
            for a, b in sorted(proxy.spans.get(biggest, []))
        ],
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def render(rows: list[dict[str, Any]]) -> str:
    base = rows[0]["addresses_per_s"] if rows else 1.0
    lines = [
        "workers  wall s  addr/s  speed-up  conns  peak open  peak/host (proxy, server)  "
        "over limit (proxy, server)  right  critical path s (host)  cpu workers, bench, "
        "machine busy  per worker /s",
    ]
    for r in rows:
        lines.append(
            f"{r['workers']:>7}  {r['wall_s']:>6}  {r['addresses_per_s']:>6}  "
            f"{r['addresses_per_s'] / base:>7.2f}x  {r['connections_opened']:>5}  "
            f"{r['peak_open']:>9}  {r['peak_per_host_max']:>17}, "
            f"{r.get('server_peak_per_host_max', '-'):<6} "
            f"{r['hosts_over_limit']:>19}, {r.get('server_hosts_over_limit', '-'):<6}  "
            f"{'yes' if r['verdicts_right'] else 'NO':>5}  "
            f"{r.get('critical_path_s', '-'):>8} ({r.get('critical_host', '')})  "
            f"{r.get('worker_cpu_s')}, {r.get('bench_cpu_s')}, {r.get('machine_busy')}  "
            f"{[s['per_s'] for s in r['shares']]}"
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
    elif args.list == "spread":
        own = [d for d in lists.DOMAINS if lists.mx_host(d) == f"mx.{d}"]
        listing = lists.build_list("spread", [args.per_domain] * len(own), own)
    else:
        listing = lists.zipf_list()
    scratch = Path(tempfile.mkdtemp(prefix="prober-workers-"))
    world = realworld.World(scratch, rtt, [listing])
    rows = []
    try:
        await world.start()
        if args.list_mode:
            print(f"running {listing.name} in list mode …", file=sys.stderr, flush=True)
            plain = await list_mode_run(world, listing, args, scratch)
            print(json.dumps({k: v for k, v in plain.items() if k != "critical_sessions"}),
                  file=sys.stderr, flush=True)
        for workers in (int(n) for n in args.workers.split(",")):
            print(f"running {listing.name} on {workers} worker(s) …", file=sys.stderr, flush=True)
            rows.append(await one_run(world, listing, workers, args, redis_url, admin_url,
                                      scratch))
            print(render(rows), file=sys.stderr, flush=True)
    finally:
        await world.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return {"rtt_ms": rtt * 1000, "per_host": args.per_host, "runs": rows,
            "list_mode": plain if args.list_mode else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument(
        "--list", choices=("zipf", "even", "spread"), default="zipf",
        help="zipf: 5,000 addresses over 200 domains, Zipf-sized; even: 25 at each of them; "
        "spread: 31 at each of the 160 domains with an MX host of their own",
    )
    parser.add_argument(
        "--per-domain", type=int, default=31,
        help="addresses at each domain of the spread list (31: 4,960 in all)",
    )
    parser.add_argument(
        "--same-source", action="store_true",
        help="every worker connects from 127.0.0.1 (default: each from an address of its own)",
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--rtt-ms", type=float, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json-out")
    parser.add_argument(
        "--profile", metavar="DIR",
        help="sample each worker with py-spy (raw stacks, one file per worker) into DIR",
    )
    parser.add_argument(
        "--list-mode", action="store_true",
        help="first run the list in plain list mode (probe check --file) on the same world",
    )
    parser.add_argument("--keep-log", metavar="DIR", help="copy each run's Postfix log into DIR")
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
