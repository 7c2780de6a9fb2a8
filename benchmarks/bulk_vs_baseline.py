"""List mode against one probe per address, over loopback with an injected round-trip time.

    python benchmarks/bulk_vs_baseline.py [--domains 40] [--mailboxes 50] [--rtt 0.05]
                                          [--connections 20]

Starts :mod:`loopworld` in its own process (DNS, aiosmtpd MX hosts, one per domain, each
behind a proxy adding ``--rtt``), writes a list of ``domains × mailboxes`` addresses (half
existing, half unknown, shuffled), then runs, each in a fresh process so that peak RSS is
its own:

(a) bulk: :func:`prober.engine.bulk.run_list_async` with ``--connections`` connections in all;
(b) baseline: :func:`prober.probe` per address, ``--connections`` at a time.

It prints, side by side: addresses per second, network round trips per address
(wall time × connections / (addresses × RTT)) and peak RSS, and checks that both gave
the same verdict for every address. ``--json`` writes the figures to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.resolve.mx import DNSConfig  # noqa: E402
from prober.results import ProbeOptions  # noqa: E402


def options(dns: tuple[str, int], port: int) -> ProbeOptions:
    return ProbeOptions(
        helo="bench.client.test",
        mail_from="check@client.test",
        port=port,
        allow_private=True,
        starttls=False,
        connect_timeout=10.0,
        timeout=20.0,
        deadline=120.0,
        dns=DNSConfig(servers=(dns,), timeout=5.0),
    )


def write_list(path: Path, domains: int, mailboxes: int) -> list[str]:
    addresses = [
        f"{'ok' if m % 2 == 0 else 'no'}{m}@d{d}.bench.test"
        for d in range(domains)
        for m in range(mailboxes)
    ]
    random.Random(1).shuffle(addresses)
    path.write_text("\n".join(addresses) + "\n")
    return addresses


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


async def client_bulk(args: argparse.Namespace) -> dict[str, Any]:
    from prober.engine.bulk import ListOptions, run_list_async

    dns = (args.dns_ip, args.dns_port)
    out = io.StringIO()
    err = io.StringIO()
    list_options = ListOptions(
        probe=options(dns, args.port), concurrency=args.connections, quiet=True
    )
    started = time.monotonic()
    await run_list_async([], args.list, list_options, stdout=out, stderr=err)
    wall = time.monotonic() - started
    verdicts = {}
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        verdicts[record["address"]] = record["verdict"]
    return {"wall": wall, "verdicts": verdicts}


async def client_baseline(args: argparse.Namespace) -> dict[str, Any]:
    from prober.engine.session import probe
    from prober.resolve.mx import Resolver

    dns = (args.dns_ip, args.dns_port)
    addresses = Path(args.list).read_text().split()
    probe_options = options(dns, args.port)
    # The baseline gets the same DNS cache: what is compared is the SMTP side.
    resolver = Resolver(probe_options.dns, cache_size=50000)
    gate = asyncio.Semaphore(args.connections)
    verdicts: dict[str, str] = {}

    async def one(address: str) -> None:
        async with gate:
            result = await probe(address, probe_options, resolver=resolver)
            verdicts[address] = str(result.verdict)

    started = time.monotonic()
    await asyncio.gather(*(one(a) for a in addresses))
    wall = time.monotonic() - started
    return {"wall": wall, "verdicts": verdicts}


def run_client(args: argparse.Namespace) -> None:
    if args.client == "bulk":
        figures = asyncio.run(client_bulk(args))
    else:
        figures = asyncio.run(client_baseline(args))
    figures["peak_rss_mb"] = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime
    print(json.dumps(figures))


def start_world(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    world = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "loopworld.py"),
            "--domains",
            str(args.domains),
            "--rtt",
            str(args.rtt),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert world.stdout is not None
    info = json.loads(world.stdout.readline())
    return world, info


def measure(args: argparse.Namespace, mode: str, info: dict[str, Any], listing: Path) -> Any:
    command = [
        sys.executable,
        __file__,
        "--client",
        mode,
        "--list",
        str(listing),
        "--dns-ip",
        info["dns"][0],
        "--dns-port",
        str(info["dns"][1]),
        "--port",
        str(info["port"]),
        "--connections",
        str(args.connections),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--mailboxes", type=int, default=50)
    parser.add_argument("--rtt", type=float, default=0.05)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--client", choices=("bulk", "baseline"), help=argparse.SUPPRESS)
    parser.add_argument("--list", help=argparse.SUPPRESS)
    parser.add_argument("--dns-ip", help=argparse.SUPPRESS)
    parser.add_argument("--dns-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args)
        return

    world, info = start_world(args)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            listing = Path(scratch) / "list.txt"
            addresses = write_list(listing, args.domains, args.mailboxes)
            figures = {mode: measure(args, mode, info, listing) for mode in ("bulk", "baseline")}
    finally:
        assert world.stdin is not None
        world.stdin.close()
        world.wait(30)

    count = len(addresses)
    rows = {}
    for mode, got in figures.items():
        wall = got["wall"]
        rows[mode] = {
            "addresses": count,
            "wall_s": round(wall, 2),
            "addresses_per_s": round(count / wall, 1),
            "round_trips_per_address": round(wall * args.connections / (count * args.rtt), 3),
            "peak_rss_mb": round(got["peak_rss_mb"], 1),
            "client_cpu_s": round(got["cpu_s"], 2),
            "verdicts": dict(Counter(got["verdicts"].values())),
        }
    same = figures["bulk"]["verdicts"] == figures["baseline"]["verdicts"]
    speedup = rows["bulk"]["addresses_per_s"] / rows["baseline"]["addresses_per_s"]
    print(
        f"{count} addresses, {args.domains} domains × {args.mailboxes} mailboxes, "
        f"RTT {args.rtt * 1000:g} ms, {args.connections} connections\n"
    )
    print(f"{'':24}{'bulk':>14}{'baseline':>14}")
    for key, label in (
        ("wall_s", "wall time (s)"),
        ("addresses_per_s", "addresses / s"),
        ("round_trips_per_address", "round trips / address"),
        ("peak_rss_mb", "peak RSS (MB)"),
        ("client_cpu_s", "prober CPU (s)"),
    ):
        print(f"{label:24}{rows['bulk'][key]:>14}{rows['baseline'][key]:>14}")
    print(f"\nspeed-up: {speedup:.1f}×; same verdict for every address: {same}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "speedup": speedup, "same_verdicts": same}, indent=2)
        )


if __name__ == "__main__":
    main()
