"""``benchmarks/realworld.py``: its lists, floors, log reading and latency proxy, then a
whole ``--quick`` run against real Postfix behind the proxy (100 addresses).

The script is run as a user runs it; its JSON report must hold every figure for each run,
every verdict of the prober's runs must match the one the list was built with, the proxy
must have counted the connections, and Postfix must have seen no message body.
Without Postfix or root that test skips (.ci/setup-mtas installs Postfix).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "realworld.py"
sys.path.insert(0, str(ROOT / "benchmarks"))

import realworld_lists as lists  # noqa: E402
from latency import LatencyProxy  # noqa: E402
from realworld import postfix_sessions  # noqa: E402


def test_zipf_list_has_the_promised_shape() -> None:
    listing = lists.zipf_list()
    assert len(listing.addresses) == len(set(listing.addresses)) == 5000
    sizes = listing.per_domain()
    assert len(sizes) == 200
    assert sizes["d000.test"] > 500 and min(sizes.values()) >= 1
    assert sorted(sizes.values(), reverse=True)[:3] == [sizes[f"d00{i}.test"] for i in range(3)]
    assert sum(v == "undeliverable" for v in listing.expected.values()) == 1000
    # Built from a seed: the same list, in the same order, every time.
    assert lists.zipf_list() == listing
    even = lists.even_list()
    assert set(even.per_domain().values()) == {25} and len(even.addresses) == 500


def test_mx_layout_shares_provider_hosts() -> None:
    assert lists.mx_host("d005.test") == lists.mx_host("d195.test") == "mx.shared-a.test"
    assert lists.mx_host("d018.test") == "mx.shared-b.test"
    assert lists.mx_host("d000.test") == "mx.d000.test"
    ips = lists.mx_ips()
    assert len(ips) == 162 and len(set(ips.values())) == 162
    records = lists.zone_records()
    assert records["d015.test."] == [("MX", 10, "mx.shared-a.test.")]


def test_floor_counts_sessions_rounds_and_error_budget() -> None:
    # d000's host: 250 addresses + 1 catch-all RCPT, so 3 sessions of <= 100; 30 of them
    # unknown + 1 refused catch-all, so 4 sessions of <= 10 refusals. d001-d030: 3 each,
    # one session per host: 24 hosts of their own, and d005/d015/d025 share provider A's,
    # d008/d018/d028 provider B's: 26 sessions.
    addresses = [f"a{n}@d000.test" for n in range(250)]
    addresses += [f"b{n}@d{h:03d}.test" for h in range(1, 31) for n in range(3)]
    unknown = {f"a{n}@d000.test" for n in range(30)}
    expected = {a: "undeliverable" if a in unknown else "deliverable" for a in addresses}
    listing = lists.Listing("t", tuple(addresses), expected)
    plain = lists.floor(listing, 0.1)
    # 29 sessions, at most 20 at once and 2 to d000's host: 2 rounds of 7 RTT.
    assert (plain.sessions, plain.rounds) == (29, 2)
    assert plain.seconds == pytest.approx(2 * 7 * 0.1)
    budget = lists.floor(listing, 0.1, error_budget=True)
    assert (budget.sessions, budget.rounds) == (30, 2)
    # d000's host alone: 4 sessions within the error budget, 2 at a time.
    alone = lists.Listing("u", tuple(addresses[:250]), expected)
    assert lists.floor(alone, 0.1).rounds == 2
    assert lists.floor(alone, 0.1, error_budget=True).sessions == 4
    # Forty one-session hosts: 20 at once, so 2 rounds.
    many = [f"c@d{h:03d}.test" for h in range(100, 200) if h % 10 not in (5, 8)][:40]
    spread = lists.Listing("v", tuple(many), dict.fromkeys(many, "deliverable"))
    assert (lists.floor(spread, 0.1).sessions, lists.floor(spread, 0.1).rounds) == (40, 2)


def test_flow_floor_adds_postfix_pause_after_the_free_transactions() -> None:
    # One host, four sessions, two at a time, 7 RTT of 0.1 s each: 1.4 s while tokens
    # last; with none left each session is a second longer (3.4 s).
    assert lists._makespan({"a": 4}, 0.1, 100, 1.0) == pytest.approx(1.4)
    assert lists._makespan({"a": 4}, 0.1, 0, 1.0) == pytest.approx(3.4)
    # Forty one-session hosts, 20 at once: the first 20 free, the next 20 pay the pause.
    hosts = {f"h{i}": 1 for i in range(40)}
    assert lists._makespan(hosts, 0.1, 20, 1.0) == pytest.approx(0.7 + 1.7)
    # The busiest host sets the end when its sessions in a row outlast the rest.
    assert lists._makespan({"big": 6, **hosts}, 0.1, 1000, 1.0) == pytest.approx(3 * 0.7)
    listing = lists.zipf_list()
    assert lists.flow_floor(listing, 0.05) > lists.floor(listing, 0.05, error_budget=True).seconds


def test_postfix_log_is_read_per_session() -> None:
    # Lines as Postfix 3.7.11 wrote them in this benchmark's runs.
    log = "\n".join(
        [
            "Dec 02 00:47:13 mx postfix/smtpd[21245]: SSL_accept error from unknown[127.0.0.1]:"
            " lost connection",
            "Dec 02 00:47:13 mx postfix/smtpd[21245]: disconnect from unknown[127.0.0.1] ehlo=1"
            " starttls=0/1 commands=1/2",
            "Dec 02 00:45:00 mx postfix/smtpd[21260]: too many errors after RCPT from"
            " unknown[127.0.0.1]",
            "Dec 02 00:45:00 mx postfix/smtpd[21260]: disconnect from unknown[127.0.0.1] ehlo=2"
            " starttls=1 mail=4 rcpt=58/78 rset=3 commands=68/88",
            "Dec 02 01:03:00 mx postfix/smtpd[3]: disconnect from unknown[127.0.0.1] ehlo=2"
            " starttls=1 mail=1 rcpt=1 quit=1 commands=6",
        ]
    )
    assert postfix_sessions(log) == {
        "sessions": 3,
        "sessions_without_mail": 1,
        "sessions_past_soft_error_limit": 1,
        "too_many_errors": 1,
        "rcpt": 79,
        "rcpt_refused": 20,
        "sessions_with_data": 0,
    }


async def test_proxy_adds_round_trips_and_counts_per_host() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rtt = 0.1
    proxy = LatencyProxy(["127.0.1.1", "127.0.1.2"], ("127.0.0.1", port), rtt)
    await proxy.start()
    try:
        started = time.monotonic()
        first = [await asyncio.open_connection("127.0.1.1", proxy.port) for _ in range(2)]
        other = await asyncio.open_connection("127.0.1.2", proxy.port)
        reader, writer = first[0]
        writer.write(b"ping\r\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"ping\r\n"
        # One RTT to connect (the handshake), one for the command and its echo.
        assert 2 * rtt <= time.monotonic() - started < 2 * rtt + 0.5
        for _, w in [*first, other]:
            w.close()
        await asyncio.sleep(rtt)
        assert proxy.snapshot() == {
            "127.0.1.1": {"opened": 2, "peak": 2, "server_peak": 2},
            "127.0.1.2": {"opened": 1, "peak": 1, "server_peak": 1},
        }
        assert proxy.peak == 3 and proxy.open == 0
        # At the server a connection ends when the server closes its side, or half an
        # RTT after the client's close: a client that closes and connects again at once
        # is one connection there, though the proxy's two sides may overlap an instant.
        reader, writer = await asyncio.open_connection("127.0.1.1", proxy.port)
        writer.write(b"once\r\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"once\r\n"
        proxy.reset()
        writer.close()
        again = await asyncio.open_connection("127.0.1.1", proxy.port)
        await asyncio.sleep(2 * rtt)
        again[1].close()
        await asyncio.sleep(rtt)
        counted = proxy.snapshot()["127.0.1.1"]
        assert counted["opened"] == 1 and counted["server_peak"] == 1, counted
        proxy.reset()
        assert proxy.snapshot() == {}
    finally:
        await proxy.close()
        server.close()
        await server.wait_closed()


@pytest.mark.slow
def test_quick_run_reports_right_verdicts_and_counts(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the benchmark starts its own Postfix, which needs root")
    if not (shutil.which("postfix") or shutil.which("postfix", path="/usr/sbin:/usr/bin")):
        pytest.skip("Postfix is not installed (.ci/setup-mtas installs it)")
    report_file = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--runs",
            "list,single",
            "--json-out",
            str(report_file),
            "--timeout",
            "240",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode == 2 and "cannot run" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(report_file.read_text())
    assert report["rtt_ms"] == 10
    assert "ESMTP Postfix" in report["postfix_banner"]
    runs = {run["mode"]: run for run in report["runs"]}
    assert set(runs) == {"list", "single"}
    for mode, run in runs.items():
        assert run["addresses"] == 100
        assert not run["failed"], run
        assert run["verdicts_right"], run["wrong"]
        assert run["verdicts"] == {"deliverable": 80, "undeliverable": 20}, mode
        # The proxy saw the connections, per MX host, and so did Postfix.
        assert run["connections_opened"] >= run["sessions_needed"] == 4
        assert 1 <= run["peak_per_host_max"] <= run["peak_open"]
        assert sum(h["opened"] for h in run["per_host"].values()) == run["connections_opened"]
        # Postfix logs each session's end a moment later; all but the last few are in.
        assert run["postfix"]["sessions"] >= 0.9 * run["connections_opened"]
        assert run["postfix"]["rcpt"] >= 100
        assert run["postfix"]["rcpt_refused"] >= 20
        assert run["postfix"]["sessions_with_data"] == 0
        assert run["peak_rss_mb"] > 10 and run["wall_s"] > 0 and run["floor_s"] > 0
        assert run["round_trips_per_address"] > 0
    # One probe per address means at least one connection per address.
    assert runs["single"]["connections_opened"] >= 100
    # List mode keeps to two connections per host.
    assert runs["list"]["peak_per_host_max"] <= 2
    assert runs["list"]["vs_single"] > 0
    assert "round trips / address" in done.stdout and "one per connection" in done.stdout
