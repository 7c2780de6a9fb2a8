"""Peak memory of list mode on a million-address input.

    python benchmarks/million.py [--addresses 1000000] [--probed-domains 200]
                                 [--mailboxes 100] [--format csv] [--budget 0]

Writes a list of ``--addresses`` lines (streamed to a temporary file), starts
:mod:`loopworld` in its own process with the fast raw SMTP responder and no added RTT,
and runs list mode over the whole file in a fresh process, recording its peak RSS (and
RSS every few seconds, to show where it levels off).

What the list holds, so that it finishes in minutes on two cores:

- ``probed-domains × mailboxes`` addresses at domains with a real MX (half of the
  mailboxes exist): these go all the way through SMTP, grouped and pipelined;
- every other line is an address at one of 5,000 domains whose DNS publishes a null
  MX (RFC 7505): each is read, parsed, deduplicated, resolved (from the run's DNS
  cache), judged and written like any other, without a connection;
- every 1,000th line is a duplicate of an earlier line, every 10,000th is not an address.

All of it passes through the same bounded window, so what is measured is the memory of
the whole pipeline on a million lines; only the SMTP part is a sample. Results go to a
file in the chosen format (CSV by default: a JSON line carries the whole transcript and
would need gigabytes of disk for a million results), which is then checked to hold
exactly one result per input line.

On two cores a line costs about a third of a millisecond of CPU (most of it address
parsing), so the whole million takes some five and a half minutes, then a resume over
the finished file (every line read back and skipped) measures what ``--resume`` costs.
``--budget SECONDS`` stops the first run after that long for a quicker look — the file
then holds every result finished so far, whole lines only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bulk_vs_baseline import options  # noqa: E402

NULL_DOMAINS = 5000


def write_list(path: Path, total: int, probed_domains: int, mailboxes: int) -> int:
    """Stream the list to ``path``; return how many lines go through SMTP."""
    smtp = min(probed_domains * mailboxes, total // 2)
    step = max(1, total // max(smtp, 1))
    written = 0
    with path.open("w") as out:
        for n in range(total):
            if n % 10_000 == 9_999:
                out.write(f"not-an-address-{n}\n")
            elif n % step == 0 and written < smtp:
                domain, box = written % probed_domains, written // probed_domains
                local = f"ok{box}" if box % 2 == 0 else f"no{box}"
                out.write(f"{local}@d{domain}.bench.test\n")
                written += 1
            elif n % 1_000 == 999:
                # The same text as line n - 500 when that one was a null-MX address.
                out.write(f"user{n - 500}@n{(n - 500) % NULL_DOMAINS}.null.test\n")
            else:
                out.write(f"user{n}@n{n % NULL_DOMAINS}.null.test\n")
    return written


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_client(args: argparse.Namespace) -> None:
    from prober.engine.bulk import ListOptions, run_list_async

    samples: list[tuple[float, float]] = []
    started = time.monotonic()
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(5.0):
            samples.append((round(time.monotonic() - started, 1), round(rss_mb(), 1)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    list_options = ListOptions(
        probe=options((args.dns_ip, args.dns_port), args.port),
        format=args.format,
        output=args.output,
        resume=args.resume,
        quiet=True,
    )

    async def bounded() -> int | None:
        run = run_list_async([], args.list, list_options, stdout=sys.stdout, stderr=sys.stderr)
        if args.budget <= 0:
            return await run
        try:
            return await asyncio.wait_for(run, args.budget)
        except TimeoutError:
            return None  # stopped by the time budget; every line written is whole

    code = asyncio.run(bounded())
    stop.set()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "exit": code,
                "budget_hit": code is None,
                "wall": time.monotonic() - started,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_mb": usage.ru_maxrss / 1024,
                "samples": samples,
            }
        )
    )


def count_results(path: Path, fmt: str) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return lines - 1 if fmt == "csv" else lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addresses", type=int, default=1_000_000)
    parser.add_argument("--probed-domains", type=int, default=200)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--format", choices=("csv", "jsonl", "text"), default="csv")
    parser.add_argument(
        "--budget",
        type=float,
        default=0.0,
        help="stop after this many seconds of probing (0, the default: the whole list)",
    )
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--list", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    parser.add_argument("--resume", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dns-ip", help=argparse.SUPPRESS)
    parser.add_argument("--dns-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        run_client(args)
        return

    world = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "loopworld.py"),
            "--domains",
            str(args.probed_domains),
            "--mx-hosts",
            str(max(1, args.probed_domains // 10)),
            "--null-domains",
            str(NULL_DOMAINS),
            "--rtt",
            "0",
            "--server",
            "fast",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert world.stdout is not None and world.stdin is not None
    try:
        info: dict[str, Any] = json.loads(world.stdout.readline())
        with tempfile.TemporaryDirectory() as scratch:
            listing = Path(scratch) / "list.txt"
            output = Path(scratch) / f"results.{args.format}"
            began = time.monotonic()
            smtp = write_list(listing, args.addresses, args.probed_domains, args.mailboxes)
            written_in = time.monotonic() - began
            size = listing.stat().st_size
            command = [
                sys.executable,
                __file__,
                "--client",
                "--list",
                str(listing),
                "--output",
                str(output),
                "--format",
                args.format,
                "--dns-ip",
                info["dns"][0],
                "--dns-port",
                str(info["dns"][1]),
                "--port",
                str(info["port"]),
                "--budget",
                str(args.budget),
            ]
            done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
            if done.returncode != 0:
                sys.exit(done.stderr)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            results = count_results(output, args.format)
            output_size = output.stat().st_size
            # Then resume over the finished file: every line is read back and skipped.
            done = subprocess.run(
                [*command, "--resume"], capture_output=True, text=True, timeout=3600
            )
            if done.returncode != 0:
                sys.exit(done.stderr)
            resumed = json.loads(done.stdout.strip().splitlines()[-1])
            after_resume = count_results(output, args.format)
    finally:
        world.stdin.close()
        world.wait(30)

    print(f"input: {args.addresses} lines ({size / 1e6:.1f} MB, written in {written_in:.1f} s)")
    print(f"  of which through SMTP: {smtp}; the rest null-MX domains, duplicates, bad lines")
    print(f"results written: {results} ({output_size / 1e6:.1f} MB of {args.format})")
    if figures["budget_hit"]:
        print(f"  stopped by the time budget of {args.budget:g} s (--budget 0 runs them all)")
    print(f"wall time: {figures['wall']:.1f} s; prober CPU: {figures['cpu_s']:.1f} s")
    print(f"peak RSS: {figures['peak_rss_mb']:.1f} MB")
    samples = figures["samples"]
    shown = samples[:: max(1, len(samples) // 12)]
    print("RSS over time (s: MB):", "  ".join(f"{t:g}: {m:g}" for t, m in shown))
    print(
        f"resume over the finished file: {resumed['wall']:.1f} s, peak RSS "
        f"{resumed['peak_rss_mb']:.1f} MB, results after it: {after_resume}"
    )
    if args.json:
        figures.update(
            addresses=args.addresses,
            smtp=smtp,
            results=results,
            output_bytes=output_size,
            resume=resumed,
            results_after_resume=after_resume,
        )
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
