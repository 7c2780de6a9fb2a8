"""One client run of ``realworld.py``, in a process of its own (so its peak RSS is its own).

    python benchmarks/realworld_client.py MODE --list FILE --out FILE --dns HOST:PORT
                                          --port PORT [--concurrency 20]

MODE is one of:

- ``list``: the ``probe`` command line in list mode (``probe check --file …``), exactly as a
  user runs it, writing JSON lines to ``--out``;
- ``single``: one address per connection, ``--concurrency`` at a time:
  :func:`prober.probe` per address under a semaphore, all on one event loop;
- ``pve``: py3-validate-email's ``validate_email`` in ``--concurrency`` threads, its DNS
  (MX lookups and the host names smtplib connects to) pointed at ``--dns``, its SMTP
  port at ``--port``, its blocklist updater off.

``single`` and ``pve`` write ``{"address", "verdict"}`` lines to ``--out``.

Before anything else an audit hook refuses every socket connection or datagram to an
address outside 127.0.0.0/8 and ::1: whatever goes wrong, nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import ipaddress
import json
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HELO = "bench.client.test"
MAIL_FROM = "check@client.test"


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if event not in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        return
    sock, address = args[0], args[-1]
    if getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return
    if not isinstance(address, tuple) or not address:
        return
    try:
        loopback = ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise PermissionError(f"the benchmark only talks to loopback, not to {address[0]}")


def run_list(args: argparse.Namespace) -> None:
    from prober.cli import main

    main(
        [
            "check",
            "--file",
            args.list,
            "--format",
            "jsonl",
            "--output",
            args.out,
            "--dns-server",
            args.dns,
            "--port",
            str(args.port),
            "--allow-private",
            "--helo",
            HELO,
            "--mail-from",
            MAIL_FROM,
            "--concurrency",
            str(args.concurrency),
            "--quiet",
        ]  # fmt: skip
    )


def _options(args: argparse.Namespace) -> Any:
    from prober import DNSConfig, ProbeOptions

    host, _, port = args.dns.rpartition(":")
    return ProbeOptions(
        helo=HELO,
        mail_from=MAIL_FROM,
        port=args.port,
        allow_private=True,
        dns=DNSConfig(servers=((host, int(port)),)),
    )


async def run_single(args: argparse.Namespace) -> None:
    import prober

    addresses = Path(args.list).read_text(encoding="utf-8").split()
    options = _options(args)
    extra: dict[str, Any] = {}
    # One DNS cache for all the probes when the API allows it: what is compared is SMTP.
    if "resolver" in inspect.signature(prober.probe).parameters:
        extra["resolver"] = prober.Resolver(options.dns, cache_size=50_000)
    gate = asyncio.Semaphore(args.concurrency)

    async def one(address: str) -> str:
        async with gate:
            result = await prober.probe(address, options, **extra)
        return json.dumps({"address": address, "verdict": str(result.verdict)})

    lines = await asyncio.gather(*(one(a) for a in addresses))
    Path(args.out).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def run_pve(args: argparse.Namespace) -> None:
    # The package would otherwise fetch a blocklist from GitHub when imported.
    os.environ["PY3VE_IGNORE_UPDATER"] = "1"
    import smtplib

    import dns.resolver
    from validate_email import validate_email

    host, _, port = args.dns.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)
    dns.resolver.default_resolver = resolver  # its MX lookups
    # smtplib connects to the MX host by name: the system's resolver, which knows nothing
    # of the loopback zone, is replaced by the same loopback one.
    dns.resolver.override_system_resolver(resolver)
    smtplib.SMTP.default_port = args.port  # it connects with port 0: the class default

    verdicts = {True: "deliverable", False: "undeliverable", None: "unknown"}

    def one(address: str) -> str:
        answer = validate_email(
            address,
            check_blacklist=False,
            dns_timeout=5,
            smtp_timeout=30,
            smtp_helo_host=HELO,
            smtp_from_address=MAIL_FROM,
        )
        return json.dumps({"address": address, "verdict": verdicts[answer]})

    addresses = Path(args.list).read_text(encoding="utf-8").split()
    with ThreadPoolExecutor(args.concurrency) as pool:
        lines = list(pool.map(one, addresses))
    Path(args.out).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def main() -> None:
    sys.addaudithook(_loopback_only)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("list", "single", "pve"))
    parser.add_argument("--list", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--dns", required=True, help="HOST:PORT of the loopback DNS server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.mode == "list":
        run_list(args)  # exits with probe's own status, which the parent reads
    elif args.mode == "single":
        asyncio.run(run_single(args))
    else:
        run_pve(args)


if __name__ == "__main__":
    main()
