"""The library as a program uses it: many addresses, live events, string forms, types."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import prober
from prober import DNSConfig, ProbeEvent, Verdict
from prober.testing.world import MailHandler, MailHost, ThreadedWorld
from tests.conftest import options_for, world_of

ROOT = Path(__file__).resolve().parent.parent
ZONE = {
    "alpha.test.": [("MX", 10, "mx.alpha.test.")],
    "beta.test.": [("MX", 10, "mx.alpha.test.")],
    "mx.alpha.test.": [("A", "127.0.0.2")],
}


def handler() -> MailHandler:
    return MailHandler(
        rule=lambda a: "250 2.1.5 Ok" if a.startswith("ok") else "550 5.1.1 No such user"
    )


async def test_probe_many_yields_every_result_in_input_order() -> None:
    addresses = [f"{'ok' if i % 3 else 'no'}{i}@{'alpha' if i % 2 else 'beta'}.test"
                 for i in range(30)] + ["broken", "ok1@alpha.test"]  # fmt: skip
    async with world_of(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", handler())]) as world:
        options = options_for(world, catch_all_check=False)
        results = [r async for r in prober.probe_many(addresses, options, concurrency=4)]
    assert [r.address for r in results] == addresses
    for result in results:
        expected = Verdict.DELIVERABLE if result.address.startswith("ok") else Verdict.UNDELIVERABLE
        assert result.verdict is expected, result.address


def test_probe_many_sync_and_stopping_early() -> None:
    with ThreadedWorld(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", handler())]) as world:
        options = options_for(world.world, catch_all_check=False)  # type: ignore[arg-type]
        every = list(prober.probe_many_sync(["ok1@alpha.test", "no2@beta.test"], options))
        first = None
        for result in prober.probe_many_sync([f"ok{i}@alpha.test" for i in range(50)], options):
            first = result
            break
    assert [r.verdict for r in every] == [Verdict.DELIVERABLE, Verdict.UNDELIVERABLE]
    assert first is not None and first.address == "ok0@alpha.test"


async def test_on_event_tells_each_step_as_it_happens() -> None:
    seen: list[ProbeEvent] = []
    async with world_of(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", handler())]) as world:
        result = await prober.probe("ok1@alpha.test", options_for(world), on_event=seen.append)
    kinds = [e.kind for e in seen]
    assert kinds[0] == "mx" and "connecting" in kinds  # "waiting" comes after a second of silence
    steps = [e.step for e in seen if e.kind == "step"]
    # The very steps of the transcript, as they came (the catch-all check's answer is
    # filed with the domain's, after the address's own).
    recorded = result.attempts[0].steps
    assert len(steps) >= 4 and tuple(steps) == recorded[: len(steps)]
    assert [e.at for e in seen] == sorted(e.at for e in seen)


def test_dns_config_parses_what_people_type() -> None:
    config = DNSConfig.parse("127.0.0.53:5353", "::1", "[::1]:53", timeout=2.0)
    assert config.servers == (("127.0.0.53", 5353), ("::1", 53), ("::1", 53))
    assert config.timeout == 2.0


def test_typed_usage_passes_mypy_strict(tmp_path: Path) -> None:
    # From another directory, as a user's project would: mypy must find the installed
    # package (the README installs it in editable "compat" mode for this).
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            str(ROOT / "tests" / "type_usage.py"),
        ],
        capture_output=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_demo_without_aiosmtpd_says_how_to_install_it() -> None:
    # aiosmtpd made unimportable, as in an installation without the [demo] extra.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'aiosmtpd':\n"
        "            raise ModuleNotFoundError(name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from prober.cli import main\n"
        "main(['demo'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 2
    assert b"pip install 'smtp-prober[demo]'" in done.stderr
    assert b"Traceback" not in done.stderr
