"""``probe --file LIST --db URL``: list mode reusing the store the service keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from service_kit import Mail, Server


def run(mail: Mail, *args: str) -> subprocess.CompletedProcess[str]:
    host, port = mail.world.dns_address
    return subprocess.run(
        [sys.executable, "-m", "prober", *args, "--allow-private", "--dns-server",
         f"{host}:{port}", "--port", str(mail.world.port), "--helo", "probe.client.test",
         "--mail-from", "check@client.test", "--quiet"],
        capture_output=True, text=True, timeout=120,
    )


def test_a_second_run_answers_from_the_store_and_so_does_the_service(tmp_path: Path) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text("alice@example.test\nbob@example.test\nnot an address\n")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with Mail() as mail:
        first = run(mail, "--file", str(listing), "--db", db, "--format", "jsonl")
        assert first.returncode == 1, first.stderr  # one undeliverable at least
        lines = [json.loads(x) for x in first.stdout.splitlines()]
        assert sorted(r["reason"] for r in lines) == ["accepted", "mailbox_unknown", "syntax"]
        assert {r["cached"] for r in lines} == {False}
        asked = len(mail.example.commands)

        second = run(mail, "--file", str(listing), "--db", db, "--format", "csv")
        assert second.returncode == 1, second.stderr
        rows = second.stdout.splitlines()
        assert rows[0].startswith("address,normalized,verdict,reason")
        assert sorted(r.split(",")[3] for r in rows[1:]) == [
            "accepted", "mailbox_unknown", "syntax"]
        assert len(mail.example.commands) == asked  # the mail server was not asked again

        with Server(db, ["--no-auth", "--allow-private", *mail.args()]) as server:
            got = httpx.post(server.url + "/v1/probe", json={"address": "alice@example.test"},
                             timeout=30).json()
        assert got["cached"] is True and got["reason"] == "accepted"
        assert len(mail.example.commands) == asked

        both = run(mail, "--file", str(listing), "--db", db, "--resume", "-o",
                   str(tmp_path / "out.jsonl"))
        assert both.returncode == 2 and "--resume and --db" in both.stderr


def test_serve_demo_probes_the_embedded_world(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.db'}"
    with Server(db, ["--no-auth", "--demo"]) as server, httpx.Client(
        base_url=server.url, timeout=30
    ) as c:
        found = {
            address: c.post("/v1/probe", json={"address": address}).json()["reason"]
            for address in ("alice@example.test", "sam@greylist.test", "joe@down.test")
        }
        assert found == {
            "alice@example.test": "accepted",
            "sam@greylist.test": "greylisted",
            "joe@down.test": "no_connection",
        }
        assert c.get("/v1/diagnose/example.test").json()["domain"] == "example.test"
