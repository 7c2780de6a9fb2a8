"""The ``probe`` command line, driven in-process through its real entry point."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from prober.cli import ExitStatus, main
from prober.testing.world import MailHandler, MailHost, ThreadedWorld, banner_then

ZONE = {
    "example.test.": [("MX", 10, "mx1.example.test.")],
    "mx1.example.test.": [("A", "127.0.0.2")],
    "blocked.test.": [("MX", 10, "mx.blocked.test.")],
    "mx.blocked.test.": [("A", "127.0.0.3")],
}


@pytest.fixture(scope="module")
def world() -> Iterator[ThreadedWorld]:
    handler = MailHandler(
        rcpt={
            "alice@example.test": "250 2.1.5 Ok",
            "full@example.test": "452 4.2.2 Mailbox full",
        },
        default="550 5.1.1 No such user",
    )
    hosts = [
        MailHost("mx1.example.test", "127.0.0.2", handler),
        MailHost("mx.blocked.test", "127.0.0.3", script=banner_then("554 5.7.1 Go away")),
    ]
    with ThreadedWorld(ZONE, hosts) as running:
        yield running
        assert running.data_received() == 0


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def world_args(world: ThreadedWorld) -> list[str]:
    host, port = world.dns_address
    return [
        "--dns-server", f"{host}:{port}",
        "--port", str(world.port),
        "--allow-private",
        "--helo", "probe.client.test",
        "--mail-from", "check@client.test",
        "--timeout", "3",
        "--connect-timeout", "2",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("address", "status", "verdict"),
    [
        ("alice@example.test", ExitStatus.DELIVERABLE, "deliverable"),
        ("bob@example.test", ExitStatus.UNDELIVERABLE, "undeliverable"),
        ("full@example.test", ExitStatus.RISKY, "risky"),
        ("eve@blocked.test", ExitStatus.UNKNOWN, "unknown"),
        ("not an address", ExitStatus.UNDELIVERABLE, "undeliverable"),
    ],
)
def test_probe_exit_status_and_json(
    world: ThreadedWorld,
    capsys: pytest.CaptureFixture[str],
    address: str,
    status: ExitStatus,
    verdict: str,
) -> None:
    code, out, err = run(capsys, address, "--json", *world_args(world))
    assert code == status, err
    data = json.loads(out)
    assert data["verdict"] == verdict
    assert data["address"] == address
    assert err == ""


def test_probe_text_transcript_explains_each_step(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "bob@example.test", *world_args(world))
    assert code == ExitStatus.UNDELIVERABLE
    assert out.startswith("bob@example.test: UNDELIVERABLE (mailbox_unknown)")
    assert "> RCPT TO:<bob@example.test>" in out
    assert "< 550 5.1.1 No such user" in out
    assert "What to do:" in out


def test_probe_italian(world: ThreadedWorld, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bob@example.test", "--lang", "it", *world_args(world))
    assert code == ExitStatus.UNDELIVERABLE
    assert "Cosa fare:" in out


def test_lang_from_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROBER_LANG", "it")
    code, out, _ = run(capsys, "explain", "552", "--json")
    assert code == 0
    assert json.loads(out)["lang"] == "it"


@pytest.mark.parametrize(
    ("args", "code", "category"),
    [
        (["550"], 550, "other"),
        (["5.1.1"], None, "mailbox_unknown"),
        (["552", "5.2.2", "Mailbox", "full"], 552, "mailbox_full"),
        (["552 5.3.4 Message size exceeds fixed limit"], 552, "message_too_large"),
        (
            [
                "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
                "550-5.1.1 double-checking the recipient's email address for typos or\n"
                "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser"
            ],
            550,
            "mailbox_unknown",
        ),
        (["550 5.7.1 blocked using zen.spamhaus.org"], 550, "blocked_ip_reputation"),
        (["111"], 111, "server_unavailable"),
        (["599 something odd"], 599, "other"),
    ],
)
def test_explain_json(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int | None, category: str
) -> None:
    status, out, _ = run(capsys, "explain", *args, "--json")
    assert status == 0
    data = json.loads(out)
    assert data["code"] == code
    assert data["category"] == category
    for key in ("enhanced_code", "permanent", "meaning", "action", "who", "lang", "rule"):
        assert key in data
    assert data["meaning"] and data["action"]


def test_explain_reads_the_reply_as_the_answer_to_the_stage_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # RFC 5321 §4.2.3: 554 instead of the greeting refuses this client ("No SMTP service
    # here"); the same code after RCPT is a refusal whose reason the words must give.
    status, out, _ = run(
        capsys, "explain", "--stage", "banner", "554 No SMTP service here", "--json"
    )
    assert status == 0 and json.loads(out)["category"] == "blocked_ip_reputation"
    status, out, _ = run(capsys, "explain", "--stage", "RCPT", "554 Transaction failed", "--json")
    assert status == 0 and json.loads(out)["category"] == "other"
    status, _, err = run(capsys, "explain", "--stage", "sending", "550")
    assert status == ExitStatus.ERROR
    assert "--stage" in err and "'rcpt'" in err and "Traceback" not in err


def test_explain_unknown_code_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "explain", "577")
    assert status == 0
    assert "not a code prober knows" in out


def test_bad_option_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "alice@example.test", "--port", "0")
    assert status == ExitStatus.ERROR
    assert "port" in err and "Traceback" not in err
    status, _, err = run(capsys, "alice@example.test", "--lang", "de")
    assert status == ExitStatus.ERROR
    assert "unsupported language" in err
    status, _, err = run(capsys, "alice@example.test", "--dns-server", "not a server")
    assert status == ExitStatus.ERROR
    assert "Traceback" not in err


def test_mail_from_injection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "alice@example.test", "--mail-from", "a@b.c>\r\nDATA")
    assert status == ExitStatus.ERROR
    assert "--mail-from" in err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("prober ")
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("check", "explain", "demo"):
        assert command in out


def test_demo_runs_the_embedded_world(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "demo", "--json")
    assert status == 0, err
    results = {r["address"]: r for r in map(json.loads, out.splitlines())}
    assert results["alice@example.test"]["verdict"] == "deliverable"
    assert results["nobody@example.test"]["reason"] == "mailbox_unknown"
    assert results["anyone@catchall.test"]["reason"] == "catch_all"
    assert results["sam@greylist.test"]["retry_after_ms"] == 300_000
    assert results["bob@blocked.test"]["reason"] == "blocked"
    assert results["eve@backup.test"]["verdict"] == "deliverable"
    assert results["joe@down.test"]["reason"] == "no_connection"
    assert results["info@nullmx.test"]["reason"] == "null_mx"
    assert results["x@no-such-domain.test"]["reason"] == "no_domain"
    assert results["not an address"]["reason"] == "syntax"


def test_diagnose_command(world: ThreadedWorld, capsys: pytest.CaptureFixture[str]) -> None:
    host, port = world.dns_address
    status, out, err = run(
        capsys,
        "diagnose", "example.test", "--json",
        "--dns-server", f"{host}:{port}", "--port", str(world.port),
        "--allow-private", "--helo", "probe.client.test", "--timeout", "3", "--deadline", "20",
    )  # fmt: skip
    data = json.loads(out)
    assert data["domain"] == "example.test"
    assert [h["name"] for h in data["hosts"]] == ["mx1.example.test"]
    ids = {f["id"] for f in data["findings"]}
    # The test zone publishes neither SPF nor DMARC: both are reported.
    assert any("spf" in i for i in ids) and any("dmarc" in i for i in ids)
    assert status in (ExitStatus.UNDELIVERABLE, ExitStatus.RISKY)
    assert status == (ExitStatus.UNDELIVERABLE if data["worst"] == "error" else ExitStatus.RISKY)


def test_preflight_command_against_loopback_targets(
    world: ThreadedWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    host, port = world.dns_address
    status, out, err = run(
        capsys,
        "preflight", "--json",
        "--target", f"127.0.0.2:{world.port}", "--target", f"127.0.0.3:{world.port}",
        "--dns-server", f"{host}:{port}", "--allow-private", "--helo", "mx1.example.test",
        "--timeout", "2", "--deadline", "10",
    )  # fmt: skip
    data = json.loads(out)
    assert [t["port"] for t in data["targets"]] == [world.port, world.port]
    assert data["targets"][0]["outcome"] == "ok"
    assert data["port25_open"] is True


@pytest.mark.parametrize(
    "option",
    [
        ["--concurrency", "0"],
        ["--per-host", "-1"],
        ["--rcpt-per-transaction", "0"],
        ["--rate", "0"],
        ["--timeout", "0"],
        ["--deadline", "-5"],
        ["--max-mx", "0"],
    ],
)
def test_nonsense_numbers_are_usage_errors(
    capsys: pytest.CaptureFixture[str], option: list[str]
) -> None:
    status, out, err = run(capsys, "a@b.test", "c@d.test", *option)
    assert status == ExitStatus.ERROR
    assert option[0] in err
    assert out == ""


def test_explain_a_bounce_file_and_a_missing_one(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    bounce = (
        Path(__file__).parent.parent / "fixtures" / "bounces" / "postfix-dsn-gmail-multiline.eml"
    )
    status, out, _ = run(capsys, "explain", str(bounce), "--json")
    assert status == 0
    data = json.loads(out)
    assert data["kind"] == "dsn"
    assert data["recipients"][0]["explanation"]["category"] == "mailbox_unknown"
    status, _, err = run(capsys, "explain", "no-such-bounce.eml")
    assert status == ExitStatus.ERROR
    assert "no such file" in err
