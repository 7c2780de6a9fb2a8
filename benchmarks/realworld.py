"""List mode against real Postfix behind a round-trip time, with one-probe-per-connection
and py3-validate-email compared in the same run.

    python benchmarks/realworld.py [--list zipf|even|both] [--rtt-ms 50] [--connections 20]
                                   [--quick] [--runs list,single,pve] [--json-out FILE]
                                   [--timeout 3600] [--keep]

The world, all on loopback and started afresh by each run of the script:

- one private **Postfix** (the one ``.ci/setup-mtas`` installs, started the way the
  interop tests start theirs: ``tests/interop/mtas.py``) hosting ``d000.test`` …
  ``d199.test``, its known users in a table, every other local part refused with
  550 5.1.1, DATA always refused, STARTTLS with a self-signed certificate made at start,
  and Postfix's default limits untouched (smtpd_soft_error_limit 10,
  smtpd_error_sleep_time 1s, smtpd_hard_error_limit 20, the default recipient limits);
- a **latency proxy** in front of it (``latency.py``): one loopback address per MX host,
  half the RTT added each way and one RTT to open a connection; it counts the
  connections opened and the most open at once, per MX host;
- the loopback **DNS server** ``prober.testing.dnsserver`` with an MX for every domain
  (``realworld_lists.py``: most domains on a host of their own, forty on two providers').

For each list (Zipf: 5,000 addresses over 200 domains, 20 % unknown; even: 500 over 20
domains; ``--quick``: 100 over 5 domains at 10 ms) it runs, each in a process of its own
(``realworld_client.py``): ``list``, the ``probe`` command in list mode; ``single``, one
:func:`prober.probe` per address, ``--connections`` at a time; ``pve``, py3-validate-email
with ``--connections`` threads (skipped when it is not installed). Every verdict is
checked against the one the list was built with, and the figures are printed as a table
(and written as JSON with ``--json-out``). Nothing is ever sent to a non-loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))

import realworld_lists as lists  # noqa: E402
from latency import LatencyProxy  # noqa: E402

from prober.testing.dnsserver import DNSServer, Zone  # noqa: E402

MODES = ("list", "single", "pve")
LABELS = {"list": "list mode", "single": "one per connection", "pve": "py3-validate-email"}
# probe's exit statuses that are verdicts (0 deliverable … 4 unknown), not failures.
VERDICT_STATUSES = (0, 1, 3, 4)


class Unavailable(Exception):
    """The world cannot be started here (no Postfix, not root)."""


# -- Postfix's own account of the sessions ----------------------------------------------

_DISCONNECT = re.compile(r"disconnect from \S+ (.*)$")
_COUNTER = re.compile(r"(\w+)=(\d+)(?:/(\d+))?")


def postfix_sessions(log: str) -> dict[str, int]:
    """What Postfix's smtpd logged for the sessions in ``log`` (its "disconnect" lines
    count each command: ``rcpt=8/10`` is 8 accepted of 10)."""
    sessions = rcpt = accepted = data = no_mail = tarpitted = 0
    for line in log.splitlines():
        found = _DISCONNECT.search(line)
        if not found:
            continue
        sessions += 1
        counters = {m[1]: (int(m[2]), int(m[3] or m[2])) for m in _COUNTER.finditer(found[1])}
        if "data" in counters or "bdat" in counters:
            data += 1
        if "mail" not in counters:
            no_mail += 1
        good, total = counters.get("rcpt", (0, 0))
        rcpt += total
        accepted += good
        if total - good > lists.REFUSALS_PER_SESSION:
            tarpitted += 1
    return {
        "sessions": sessions,
        "sessions_without_mail": no_mail,
        "sessions_past_soft_error_limit": tarpitted,
        "too_many_errors": log.count("too many errors"),
        "rcpt": rcpt,
        "rcpt_refused": rcpt - accepted,
        "sessions_with_data": data,
    }


# -- one client run ---------------------------------------------------------------------


async def run_child(
    command: list[str], deadline: float, log: Path
) -> tuple[int | None, float, float]:
    """Run ``command``; (exit status or None if killed at the deadline, wall seconds,
    CPU seconds from the kernel's account of that process)."""
    loop = asyncio.get_running_loop()
    env = dict(os.environ, PY3VE_IGNORE_UPDATER="1")
    with log.open("wb") as out:
        started = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
        )
    waiter = loop.run_in_executor(None, os.wait4, process.pid, 0)
    killed = False
    try:
        _, status, usage = await asyncio.wait_for(
            asyncio.shield(waiter), max(0.0, deadline - time.monotonic())
        )
    except (TimeoutError, asyncio.CancelledError) as stop:
        process.kill()
        killed = True
        _, status, usage = await waiter
        if isinstance(stop, asyncio.CancelledError):
            raise
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    code = None if killed else process.returncode
    return code, wall, usage.ru_utime + usage.ru_stime


def read_verdicts(path: Path) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    if not path.exists():
        return verdicts
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError):
            record = json.loads(line)
            verdicts[record["address"]] = str(record["verdict"])
    return verdicts


def judge(expected: Mapping[str, str], got: Mapping[str, str]) -> list[dict[str, str]]:
    return [
        {"address": a, "expected": want, "got": got.get(a, "missing")}
        for a, want in expected.items()
        if got.get(a) != want
    ]


class World:
    """Postfix, the proxy and the DNS server; :meth:`close` stops whatever was started."""

    def __init__(
        self,
        scratch: Path,
        rtt: float,
        listings: list[lists.Listing],
        postfix_settings: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.scratch = scratch
        self.postfix_settings = postfix_settings
        self.rtt = rtt
        self.listings = listings
        self.postfix: Any = None
        self.proxy: LatencyProxy | None = None
        self.dns: DNSServer | None = None

    async def start(self) -> None:
        try:
            from interop.mtas import Postfix, self_signed
            from interop.mtas import Unavailable as MTAUnavailable
        except ImportError as exc:
            raise Unavailable(f"tests/interop/mtas.py cannot be imported: {exc}") from exc
        cert, key = self_signed("mx.bench.test")
        mailboxes = sorted({box for listing in self.listings for box in listing.mailboxes()})
        try:
            self.postfix = Postfix(
                mailboxes, cert, key, domains=lists.DOMAINS, settings=self.postfix_settings
            )
        except MTAUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        self.postfix.start()  # blocking, a few seconds: nothing else runs yet
        ips = lists.mx_ips()
        self.proxy = LatencyProxy(ips.values(), ("127.0.0.1", self.postfix.port), self.rtt)
        await self.proxy.start()
        self.dns = DNSServer(Zone(lists.zone_records()))
        await self.dns.start()

    def log_size(self) -> int:
        if self.postfix is None:
            return 0
        with contextlib.suppress(OSError):
            return (self.postfix.workdir / "maillog").stat().st_size
        return 0

    def log_since(self, offset: int) -> str:
        """Postfix's log from byte ``offset`` on (the whole log grows to tens of MB)."""
        if self.postfix is None:
            return ""
        with contextlib.suppress(OSError), (self.postfix.workdir / "maillog").open("rb") as log:
            log.seek(offset)
            return log.read().decode("utf-8", "replace")
        return ""

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        if self.dns is not None:
            await self.dns.close()
        if self.postfix is not None:
            await asyncio.to_thread(self.postfix.stop)
            self.postfix.remove()


async def measure(
    world: World,
    listing: lists.Listing,
    mode: str,
    connections: int,
    deadline: float,
) -> dict[str, Any]:
    assert world.proxy is not None and world.dns is not None
    folder = world.scratch / f"{listing.name}-{mode}"
    folder.mkdir()
    source = folder / "list.txt"
    source.write_text("".join(a + "\n" for a in listing.addresses), encoding="utf-8")
    out = folder / "results.jsonl"
    command = [
        sys.executable, str(HERE / "realworld_client.py"), mode,
        "--list", str(source),
        "--out", str(out),
        "--dns", f"{world.dns.host}:{world.dns.port}",
        "--port", str(world.proxy.port),
        "--concurrency", str(connections),
        "--stats", str(folder / "stats.json"),
    ]  # fmt: skip
    log_start = world.log_size()
    world.proxy.reset()
    world.dns.queries.clear()
    status, wall, cpu = await run_child(command, deadline, folder / "client.log")
    rss = None
    with contextlib.suppress(OSError, ValueError):
        rss = json.loads((folder / "stats.json").read_text())["peak_rss_mb"]
    await asyncio.sleep(1.0)  # Postfix logs a session's end a moment after it closes
    per_host = world.proxy.snapshot()
    lateness = world.proxy.lateness()
    got = read_verdicts(out)
    wrong = judge(listing.expected, got)
    count = len(listing.addresses)
    rtt = world.rtt
    plain = lists.floor(listing, rtt)
    budget = lists.floor(listing, rtt, error_budget=True)
    flow = lists.flow_floor(listing, rtt)
    opened = sum(h["opened"] for h in per_host.values())
    failed = status is None or status not in (VERDICT_STATUSES if mode == "list" else (0,))
    row: dict[str, Any] = {
        "list": listing.name,
        "mode": mode,
        "addresses": count,
        "exit_status": status,
        "timed_out": status is None,
        "failed": failed,
        "wall_s": round(wall, 2),
        "addresses_per_s": round(count / wall, 1),
        "round_trips_per_address": round(wall * connections / (count * rtt), 3),
        "connections_opened": opened,
        "sessions_needed": plain.sessions,
        "connections_per_session_needed": round(opened / plain.sessions, 2),
        "peak_open": world.proxy.peak,
        "peak_per_host_max": max((h["peak"] for h in per_host.values()), default=0),
        "peak_per_host_at_server": max((h["server_peak"] for h in per_host.values()), default=0),
        "hosts_over_2_at_once": sum(
            h["server_peak"] > lists.SESSIONS_PER_HOST for h in per_host.values()
        ),
        "peak_rss_mb": round(rss, 1) if rss is not None else None,
        "cpu_s": round(cpu, 2),
        "floor_s": round(plain.seconds, 2),
        "wall_over_floor": round(wall / plain.seconds, 1),
        "floor_error_budget_s": round(budget.seconds, 2),
        "wall_over_floor_error_budget": round(wall / budget.seconds, 1),
        # With Postfix's flow control too, on a fresh Postfix (its first 100 transactions
        # free, every later one a second longer): what no client can beat there.
        "floor_flow_s": round(flow, 2),
        "wall_over_floor_flow": round(wall / flow, 2),
        "round_trips_per_address_at_floor_flow": round(flow * connections / (count * rtt), 3),
        "verdicts": dict(Counter(got.values())),
        "verdicts_right": not wrong,
        "wrong_count": len(wrong),
        "wrong": wrong,
        "proxy_lag_mean_ms": round(lateness["mean_ms"], 1),
        "proxy_lag_max_ms": round(lateness["max_ms"], 1),
        "postfix": postfix_sessions(world.log_since(log_start)),
        "per_host": per_host,
        "time_use": time_use(world.proxy.timeline, connections),
        "session_shape": session_shape(world.proxy.timeline, world.proxy.chunk_times, rtt),
    }
    if failed:
        row["client_log_tail"] = (folder / "client.log").read_text(errors="replace")[-3000:]
    return row


def time_use(timeline: list[tuple[str, float, float]], connections: int) -> dict[str, Any]:
    """Who used the run's time, from the proxy's record of each connection: how full the
    connection slots were, and whether one host's sessions in a row set the end."""
    if not timeline:
        return {}
    start = min(opened for _, opened, _ in timeline)
    end = max(closed for _, _, closed in timeline)
    busy = sum(closed - opened for _, opened, closed in timeline)
    finished: dict[str, float] = defaultdict(float)
    sessions: Counter[str] = Counter()
    for host, _, closed in timeline:
        finished[host] = max(finished[host], closed - start)
        sessions[host] += 1
    order = sorted(finished, key=finished.__getitem__)
    last = order[-1]
    return {
        "slots_busy": round(busy / ((end - start) * connections), 3) if end > start else None,
        "mean_session_s": round(busy / len(timeline), 3),
        "last_host": last,
        "last_host_sessions": sessions[last],
        "last_host_done_s": round(finished[last], 2),
        "others_done_s": round(finished[order[-2]], 2) if len(order) > 1 else None,
        "last_host_connections": sorted(
            (round(opened - start, 2), round(closed - start, 2))
            for host, opened, closed in timeline
            if host == last
        ),
    }


def _mean_ms(values: list[float]) -> float | None:
    return round(1000 * sum(values) / len(values), 1) if values else None


def session_shape(
    timeline: list[tuple[str, float, float]], chunks: list[list[tuple[str, float]]], rtt: float
) -> dict[str, Any]:
    """What a session's time went on, from the chunks the proxy passed each way: the
    client's flights (a send after an answer: one round trip each) and the server's
    pauses (an answer more than half a second later than the round trip explains:
    Postfix's ``in_flow_delay`` before a transaction, its error sleep)."""
    if not timeline or len(chunks) != len(timeline):
        return {}

    def shape(indices: list[int]) -> dict[str, Any]:
        flights = paused = pauses = 0
        seconds = 0.0
        histogram: Counter[int] = Counter()
        server_think: list[float] = []  # from a flight's arrival to the answer's start
        client_think: list[float] = []  # from an answer's arrival to the next flight
        for i in indices:
            last_sent: float | None = None
            last_answer: float | None = None
            previous = "<"
            before = pauses
            closed = timeline[i][2]
            for direction, at in chunks[i]:
                if at > closed:
                    break  # the client had gone (a QUIT it did not wait for)
                if direction == ">":
                    if previous == "<":
                        flights += 1
                        last_sent = at
                        if last_answer is not None:
                            client_think.append(at - last_answer - rtt / 2)
                elif last_sent is not None:
                    gap = at - last_sent - rtt / 2
                    if gap > 0.5:
                        pauses += 1
                        paused += gap
                    else:
                        server_think.append(gap)
                    last_sent = None
                    last_answer = at
                previous = direction
            seconds += timeline[i][2] - timeline[i][1]
            histogram[pauses - before] += 1
        n = max(1, len(indices))
        return {
            "sessions": len(indices),
            "mean_s": round(seconds / n, 3),
            "flights_per_session": round(flights / n, 2),
            "server_pauses_per_session": round(pauses / n, 2),
            "server_pause_share": round(paused / seconds, 3) if seconds else None,
            "sessions_by_pauses": dict(sorted(histogram.items())),
            "server_think_ms": _mean_ms(server_think),
            "client_think_ms": _mean_ms(client_think),
        }

    by_host: dict[str, list[int]] = defaultdict(list)
    for i, (host, _, _) in enumerate(timeline):
        by_host[host].append(i)
    busiest = max(by_host, key=lambda h: len(by_host[h]))
    start = min(opened for _, opened, _ in timeline)
    spans = sorted((timeline[i][1] - start, timeline[i][2] - start) for i in by_host[busiest])
    return {
        "all": shape(list(range(len(timeline)))),
        "busiest_host": busiest,
        "busiest": shape(by_host[busiest]),
        # When the busiest host's sessions ran: its first began, its last ended, and the
        # time in between it had fewer than two open (a slot of it idle).
        "busiest_first_s": round(spans[0][0], 2),
        "busiest_done_s": round(max(end for _, end in spans), 2),
        "busiest_spans": [(round(a, 2), round(b, 2)) for a, b in spans],
        # Every host's sessions when it had a few (more than one, fewer than five): a
        # host that needed one but got two shows here.
        "few_sessions": {
            host: [
                (round(timeline[i][1] - start, 2), round(timeline[i][2] - start, 2))
                for i in indices
            ]
            for host, indices in by_host.items()
            if 1 < len(indices) < 5
        },
        "busiest_chunks": [
            [(d, round(1000 * (at - timeline[i][1]))) for d, at in chunks[i]]
            + [("closed", round(1000 * (timeline[i][2] - timeline[i][1])))]
            for i in by_host[busiest][2:6]
        ],
    }


def add_ratios(rows: list[dict[str, Any]]) -> None:
    by = {(r["list"], r["mode"]): r for r in rows}
    for row in rows:
        for other in ("single", "pve"):
            peer = by.get((row["list"], other))
            if peer and peer["addresses_per_s"] and not peer["failed"]:
                row[f"vs_{other}"] = round(row["addresses_per_s"] / peer["addresses_per_s"], 2)


TABLE = (
    ("wall_s", "wall time (s)"),
    ("addresses_per_s", "addresses / s"),
    ("vs_single", "× one per connection"),
    ("vs_pve", "× py3-validate-email"),
    ("round_trips_per_address", "round trips / address"),
    ("connections_opened", "TCP connections"),
    ("sessions_needed", "sessions needed"),
    ("peak_open", "most open at once"),
    ("peak_per_host_max", "most open to one host (client)"),
    ("peak_per_host_at_server", "most open to one host (server)"),
    ("peak_rss_mb", "peak RSS (MB)"),
    ("cpu_s", "client CPU (s)"),
    ("wall_over_floor", "wall ÷ floor"),
    ("wall_over_floor_error_budget", "wall ÷ floor (error budget)"),
    ("wall_over_floor_flow", "wall ÷ floor (budget + flow control)"),
    ("wrong_count", "wrong verdicts"),
    ("proxy_lag_mean_ms", "proxy lag, mean (ms)"),
    ("proxy_lag_max_ms", "proxy lag, max (ms)"),
)


def render(rows: list[dict[str, Any]], rtt: float, connections: int) -> str:
    lines = []
    for name in dict.fromkeys(r["list"] for r in rows):
        group = [r for r in rows if r["list"] == name]
        first = group[0]
        lines.append(
            f"\n{name}: {first['addresses']} addresses, RTT {rtt * 1000:g} ms, "
            f"{connections} connections; floor {first['floor_s']} s "
            f"({first['floor_error_budget_s']} s within Postfix's error budget, "
            f"{first['floor_flow_s']} s with its flow control too: "
            f"{first['round_trips_per_address_at_floor_flow']} round trips per address)"
        )
        lines.append(f"{'':40}" + "".join(f"{LABELS[r['mode']]:>21}" for r in group))
        for key, label in TABLE:
            cells = "".join(f"{str(r.get(key, '-')):>21}" for r in group)
            lines.append(f"{label:40}{cells}")
        postfix_keys = ("sessions", "sessions_without_mail", "sessions_past_soft_error_limit",
                        "too_many_errors", "sessions_with_data")  # fmt: skip
        for key in postfix_keys:
            cells = "".join(f"{r['postfix'][key]:>21}" for r in group)
            lines.append(f"{'postfix: ' + key.replace('_', ' '):40}{cells}")
        use_keys = ("slots_busy", "mean_session_s", "last_host_sessions", "last_host_done_s",
                    "others_done_s")  # fmt: skip
        for key in use_keys:
            cells = "".join(f"{str(r['time_use'].get(key, '-')):>21}" for r in group)
            lines.append(f"{'time: ' + key.replace('_', ' '):40}{cells}")
        for key in ("mean_s", "flights_per_session", "server_pauses_per_session",
                    "server_pause_share", "server_think_ms", "client_think_ms"):  # fmt: skip
            for part in ("all", "busiest"):
                cells = "".join(
                    f"{str(r.get('session_shape', {}).get(part, {}).get(key, '-')):>21}"
                    for r in group
                )
                lines.append(f"{'sessions (' + part + '): ' + key.replace('_', ' '):40}{cells}")
        for r in group:
            if r["failed"]:
                lines.append(f"  {LABELS[r['mode']]}: FAILED (exit {r['exit_status']})")
            for w in r["wrong"][:10]:
                lines.append(f"  {LABELS[r['mode']]}: {w['address']} {w['expected']} → {w['got']}")
            if r["wrong_count"] > 10:
                lines.append(f"  {LABELS[r['mode']]}: … {r['wrong_count'] - 10} more wrong")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.timeout
    rtt = (args.rtt_ms if args.rtt_ms is not None else (10 if args.quick else 50)) / 1000
    if args.quick:
        listings = [lists.quick_list()]
    else:
        chosen = ("zipf", "even") if args.list == "both" else (args.list,)
        listings = [{"zipf": lists.zipf_list, "even": lists.even_list}[n]() for n in chosen]
    modes = [m for m in args.runs.split(",") if m]
    skipped = {}
    if "pve" in modes and importlib.util.find_spec("validate_email") is None:
        modes.remove("pve")
        skipped["pve"] = "py3-validate-email is not installed (pip install py3-validate-email)"
    scratch = Path(tempfile.mkdtemp(prefix="prober-realworld-"))
    settings = tuple(
        (name.strip(), value.strip())
        for name, _, value in (item.partition("=") for item in args.postfix_set)
    )
    world = World(scratch, rtt, listings, settings)
    rows: list[dict[str, Any]] = []
    try:
        await world.start()
        for listing in listings:
            for mode in modes:
                if time.monotonic() >= deadline:
                    skipped[f"{listing.name}/{mode}"] = "the global timeout was reached"
                    continue
                print(f"running {listing.name} / {LABELS[mode]} …", file=sys.stderr, flush=True)
                rows.append(await measure(world, listing, mode, args.connections, deadline))
    finally:
        if args.keep:
            (scratch / "maillog").write_text(world.log_since(0), encoding="utf-8")
        await world.close()
        if args.keep:
            print(f"kept the lists, results and Postfix's log in {scratch}", file=sys.stderr)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    add_ratios(rows)
    return {
        "rtt_ms": rtt * 1000,
        "connections": args.connections,
        "postfix_banner": world.postfix.banner if world.postfix is not None else None,
        "postfix_changed": dict(settings),
        "runs": rows,
        "skipped": skipped,
        "total_s": round(time.monotonic() - started, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", choices=("zipf", "even", "both"), default="both")
    parser.add_argument("--rtt-ms", type=float, default=None, help="default 50 (10 with --quick)")
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="100 addresses over 5 domains")
    parser.add_argument("--runs", default=",".join(MODES), help="comma-separated: list,single,pve")
    parser.add_argument("--json-out", help="write the figures to this file as JSON")
    parser.add_argument("--timeout", type=float, default=3600, help="for the whole script")
    parser.add_argument("--keep", action="store_true", help="keep results and Postfix's log")
    parser.add_argument(
        "--postfix-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an experiment: change one of Postfix's defaults (e.g. in_flow_delay=0s)",
    )
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.postfix_set):
        parser.error("--postfix-set takes NAME=VALUE")
    unknown = set(args.runs.split(",")) - set(MODES) - {""}
    if unknown:
        parser.error(f"unknown runs: {', '.join(sorted(unknown))} (choose from {MODES})")
    try:
        report = asyncio.run(run(args))
    except Unavailable as exc:
        print(f"cannot run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; the world was stopped", file=sys.stderr)
        return 130
    print(render(report["runs"], report["rtt_ms"] / 1000, report["connections"]))
    for name, value in report["postfix_changed"].items():
        print(f"experiment: Postfix's {name} set to {value} (not its default)")
    for what, why in report["skipped"].items():
        print(f"skipped {what}: {why}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    # A wrong verdict of the peer is a finding about it; one of the prober's is a failure.
    bad = [
        r for r in report["runs"] if r["mode"] != "pve" and (r["failed"] or not r["verdicts_right"])
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
