"""``benchmarks/realworld.py --quick``: real Postfix behind the latency proxy, 100 addresses.

The script is run as a user runs it; its JSON report must hold every figure for each run,
every verdict of the prober's runs must match the one the list was built with, the proxy
must have counted the connections, and Postfix must have seen no message body.
Without Postfix or root the test skips (.ci/setup-mtas installs Postfix).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "realworld.py"

pytestmark = pytest.mark.slow


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
