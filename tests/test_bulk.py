"""List mode against real servers on loopback: grouping, pipelining, politeness, input, output."""

from __future__ import annotations

import asyncio
import io
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from prober.engine.bulk import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_RISKY,
    EXIT_UNDELIVERABLE,
    EXIT_UNKNOWN,
    ListOptions,
    run_list_async,
)
from prober.testing.world import MailHandler, MailHost, Script, World
from tests.conftest import options_for, world_of

SHARED = {
    "alpha.test.": [("MX", 10, "mx.provider.test.")],
    "beta.test.": [("MX", 10, "mx.provider.test.")],
    "gamma.test.": [("MX", 10, "mx.provider.test.")],
    "mx.provider.test.": [("A", "127.0.0.2")],
}


def accept_known(known: set[str]) -> Callable[[str], str | None]:
    def rule(address: str) -> str:
        if address.lower() in known:
            return "250 2.1.5 Ok"
        return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"

    return rule


async def run(
    world: World,
    addresses: list[str],
    *,
    file: str | None = None,
    stdin: bytes | None = None,
    probe: dict[str, Any] | None = None,
    **changes: Any,
) -> tuple[int, list[dict[str, Any]], str]:
    options = ListOptions(probe=options_for(world, **(probe or {})), **changes)
    out, err = io.StringIO(), io.StringIO()
    code = await run_list_async(
        addresses,
        file,
        options,
        stdout=out,
        stderr=err,
        stdin=io.BytesIO(stdin) if stdin is not None else None,
        rng=random.Random(3),
    )
    if options.format == "jsonl" and options.output is None:
        return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()
    return code, [], err.getvalue() + out.getvalue()


def commands(handler: MailHandler, verb: str) -> list[str]:
    return [c for c in handler.commands if c.startswith(verb)]


# -- grouping, pipelining, transactions ----------------------------------------------


async def test_domains_sharing_an_mx_share_one_connection() -> None:
    known = {f"user{i}@{d}" for d in ("alpha.test", "beta.test") for i in range(0, 20, 2)}
    mail = MailHandler(rule=accept_known(known))
    addresses = [
        f"user{i}@{d}" for d in ("alpha.test", "beta.test", "gamma.test") for i in range(20)
    ]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        # A server that does not count errors (the error budget is another test's).
        code, results, err = await run(world, addresses, per_host=1, error_budget=1000)
        # The MX of each domain was asked once, and the host's address once.
        mx_queries = [q for q in world.dns.queries if q.rdtype == "MX"]
    assert code == EXIT_UNDELIVERABLE
    assert len(commands(mail, "EHLO")) == 1  # one connection for three domains
    assert len(results) == 60
    by_address = {r["address"]: r for r in results}
    assert by_address["user0@alpha.test"]["verdict"] == "deliverable"
    assert by_address["user0@alpha.test"]["catch_all"] is False
    assert by_address["user1@alpha.test"]["reason"] == "mailbox_unknown"
    assert by_address["user4@gamma.test"]["reason"] == "mailbox_unknown"
    # 60 addresses and one catch-all probe per domain that accepted an address (gamma
    # accepted none: no made-up address costs it a refusal).
    assert len(commands(mail, "RCPT")) == 62
    assert len(commands(mail, "MAIL")) >= 4
    assert len(mx_queries) == 3
    assert "60 results" in err


async def test_each_result_has_its_own_transcript() -> None:
    mail = MailHandler(rule=accept_known({"a@alpha.test"}))
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, results, _err = await run(world, ["a@alpha.test", "b@alpha.test"])
    for result in results:
        steps = result["attempts"][0]["steps"]
        sent = [s.get("command") for s in steps]
        assert f"RCPT TO:<{result['address']}>" in sent
        other = "b@alpha.test" if result["address"] == "a@alpha.test" else "a@alpha.test"
        assert f"RCPT TO:<{other}>" not in sent
        assert any(s.get("command", "").startswith("EHLO") for s in steps if s.get("command"))


def smtp_responder(
    chunks: list[bytes],
    answer: Callable[[str], str],
    *,
    pipelining: bool = True,
    close_after: int | None = None,
    connections: list[int] | None = None,
) -> Script:
    """A plain SMTP server that records each chunk it reads (to see what came in one write).

    ``close_after``: hang up, without a reply, on the RCPT after that many in a connection.
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if connections is not None:
            connections.append(1)
        writer.write(b"220 mx.provider.test ESMTP\r\n")
        await writer.drain()
        buffer = b""
        rcpts = 0
        while True:
            data = await reader.read(65536)
            if not data:
                return
            chunks.append(data)
            buffer += data
            while b"\r\n" in buffer:
                raw, buffer = buffer.split(b"\r\n", 1)
                line = raw.decode()
                verb = line[:4].upper()
                if verb == "EHLO":
                    extensions = ["250-mx.provider.test", "250-8BITMIME"]
                    if pipelining:
                        extensions.append("250-PIPELINING")
                    reply = "\r\n".join([*extensions, "250 SMTPUTF8"])
                elif verb == "MAIL":
                    reply = "250 2.1.0 Ok"
                elif verb == "RCPT":
                    rcpts += 1
                    if close_after is not None and rcpts > close_after:
                        return
                    reply = answer(line.partition("<")[2].rstrip(">"))
                elif verb == "RSET":
                    reply = "250 2.0.0 Ok"
                elif verb == "QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                else:
                    reply = "502 5.5.2 Not here"
                writer.write(reply.encode() + b"\r\n")
            await writer.drain()

    return script


def by_user(address: str) -> str:
    if address.startswith("ok"):
        return "250 2.1.5 Ok"
    return "550 5.1.1 User unknown"


async def test_pipelining_sends_mail_and_recipients_in_one_write() -> None:
    chunks: list[bytes] = []
    script = smtp_responder(chunks, by_user)
    addresses = [f"ok{i}@alpha.test" for i in range(5)] + [f"no{i}@alpha.test" for i in range(5)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", script=script)]) as w:
        code, results, _err = await run(
            w, addresses, probe={"catch_all_check": False}, error_budget=100
        )
    assert code == EXIT_UNDELIVERABLE
    batch = next(c for c in chunks if c.startswith(b"MAIL FROM"))
    assert batch.count(b"RCPT TO:") == 10  # MAIL and every RCPT in a single write
    assert Counter(r["verdict"] for r in results) == {"deliverable": 5, "undeliverable": 5}


async def test_lock_step_without_pipelining() -> None:
    chunks: list[bytes] = []
    script = smtp_responder(chunks, by_user, pipelining=False)
    addresses = [f"ok{i}@alpha.test" for i in range(3)] + ["no1@alpha.test"]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", script=script)]) as w:
        _code, results, _err = await run(w, addresses)
    assert all(chunk.count(b"\r\n") == 1 for chunk in chunks)  # one command per write
    assert sum(chunk.startswith(b"RCPT") for chunk in chunks) == 5  # 4 and the catch-all
    assert Counter(r["verdict"] for r in results) == {"deliverable": 3, "undeliverable": 1}


async def test_too_many_recipients_starts_a_new_transaction() -> None:
    mail = MailHandler()

    def limit(address: str) -> str:
        since_mail = list(reversed(mail.commands))
        count = since_mail.index(next(c for c in since_mail if c.startswith("MAIL")))
        if count > 4:
            return "452 4.5.3 Too many recipients"
        return "250 2.1.5 Ok" if address.startswith("ok") else "550 5.1.1 No such user"

    mail.rule = limit
    addresses = [f"ok{i}@alpha.test" for i in range(9)] + [f"no{i}@beta.test" for i in range(9)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, results, _err = await run(
            world, addresses, per_host=1, rcpt_per_transaction=10, error_budget=100
        )
    assert len(results) == 18
    assert Counter(r["reason"] for r in results) == {"accepted": 9, "mailbox_unknown": 9}
    assert len(commands(mail, "EHLO")) == 1
    assert len(commands(mail, "MAIL")) >= 5  # 20 RCPTs, at most 4 accepted per transaction


async def test_server_closing_mid_batch_reconnects_and_loses_nothing() -> None:
    chunks: list[bytes] = []
    connections: list[int] = []
    script = smtp_responder(chunks, by_user, close_after=7, connections=connections)
    addresses = [f"ok{i}@alpha.test" for i in range(15)] + [f"no{i}@alpha.test" for i in range(15)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", script=script)]) as w:
        code, results, _err = await run(
            w, addresses, per_host=1, rcpt_per_transaction=5, probe={"catch_all_check": False}
        )
    assert code == EXIT_UNDELIVERABLE
    assert len(connections) >= 5  # 30 addresses, at most 7 answered per connection
    assert Counter(r["verdict"] for r in results) == {"deliverable": 15, "undeliverable": 15}
    assert sorted(r["address"] for r in results) == sorted(addresses)


async def test_catch_all_is_checked_once_per_domain() -> None:
    mail = MailHandler(default="250 2.1.5 Ok")
    addresses = [f"u{i}@{d}" for d in ("alpha.test", "beta.test") for i in range(25)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        code, results, _err = await run(world, addresses, rcpt_per_session=10)
    probes = [c for c in commands(mail, "RCPT") if "prober-" in c]
    assert sorted(p.rpartition("@")[2] for p in probes) == ["alpha.test", "beta.test"]
    assert len(commands(mail, "EHLO")) >= 5  # many connections, still one probe per domain
    assert all(r["reason"] == "catch_all" and r["catch_all"] is True for r in results)
    assert code == EXIT_RISKY


async def test_duplicates_are_probed_once_and_reported_per_line() -> None:
    mail = MailHandler(rule=accept_known({"dup@alpha.test"}))
    addresses = ["dup@alpha.test", "other@alpha.test", "dup@ALPHA.test", " dup@alpha.test "]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, results, err = await run(world, addresses)
    assert [c for c in commands(mail, "RCPT") if "dup" in c] == ["RCPT dup@alpha.test"]
    dup = [r for r in results if r["normalized"] == "dup@alpha.test"]
    assert sorted(r["address"] for r in dup) == [
        "dup@ALPHA.test",
        "dup@alpha.test",
        "dup@alpha.test",
    ]
    assert all(r["verdict"] == "deliverable" for r in dup)
    assert "(2 distinct)" in err


async def test_source_address_is_used_and_progress_does_not_disturb() -> None:
    peers: list[str] = []
    chunks: list[bytes] = []
    inner = smtp_responder(chunks, by_user)

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[0])
        await inner(reader, writer)

    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", script=script)]) as w:
        code, results, err = await run(
            w, ["ok1@alpha.test"], probe={"source_address": "127.0.0.9"}, progress=True
        )
    assert code == EXIT_OK and results[0]["verdict"] == "deliverable"
    assert peers == ["127.0.0.9"]
    assert "1 result (1 distinct)" in err


# -- politeness ----------------------------------------------------------------------


async def test_rate_limited_host_is_paused_then_asked_again() -> None:
    mail = MailHandler()
    seen: list[float] = []
    loop = asyncio.get_running_loop()

    def limited_first(address: str) -> str:
        seen.append(loop.time())
        if len(seen) <= 3:
            return "421 4.7.0 Too many connections, slow down"
        return "250 2.1.5 Ok"

    mail.rule = limited_first
    addresses = [f"u{i}@alpha.test" for i in range(3)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, results, _err = await run(
            world, addresses, backoff=0.3, probe={"catch_all_check": False}
        )
    assert all(r["verdict"] == "deliverable" for r in results)
    assert seen[3] - seen[2] >= 0.25  # the host had its pause before we came back


async def test_rate_per_domain_spaces_recipients() -> None:
    mail = MailHandler(default="250 2.1.5 Ok")
    stamps: list[float] = []
    loop = asyncio.get_running_loop()

    def stamp(address: str) -> None:
        stamps.append(loop.time())
        return None

    mail.rule = stamp
    addresses = [f"u{i}@alpha.test" for i in range(8)]
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, results, _err = await run(
            world, addresses, rate=8.0, probe={"catch_all_check": False}
        )
    assert len(results) == 8
    # 8 RCPTs at 8 per second, in bursts of 2: the last ones come ~0.75 s after the first.
    assert stamps[-1] - stamps[0] >= 0.7
    assert max(Counter(round(t - stamps[0], 1) for t in stamps).values()) <= 2


async def test_greylisted_addresses_are_asked_again_once() -> None:
    mail = MailHandler()
    asked: Counter[str] = Counter()

    def greylist(address: str) -> str:
        asked[address] += 1
        if asked[address] == 1:
            return "450 4.2.0 Greylisted, try again in 1 seconds"
        return "250 2.1.5 Ok"

    mail.rule = greylist
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        _code, retried, _err = await run(
            world, ["g@alpha.test"], greylist_retry=0.2, probe={"catch_all_check": False}
        )
        asked.clear()
        _code, plain, _err = await run(world, ["g@alpha.test"], probe={"catch_all_check": False})
    assert retried[0]["verdict"] == "deliverable"
    assert plain[0]["reason"] == "greylisted" and plain[0]["retry_after"] == 1


# -- input ---------------------------------------------------------------------------


async def test_bad_lines_non_utf8_long_lines_and_blanks(tmp_path: Path) -> None:
    mail = MailHandler(rule=accept_known({"good@alpha.test"}))
    listing = tmp_path / "list.txt"
    listing.write_bytes(
        b"good@alpha.test\r\n"
        b"\n   \n"
        b"not an address\n"
        b"caf\xe9@alpha.test\n" + b"x" * 1_000_000 + b"@alpha.test\n" + b"last@alpha.test"
    )
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        code, results, err = await run(world, [], file=str(listing))
    assert code == EXIT_UNDELIVERABLE
    by_address = {r["address"]: r for r in results}
    assert len(results) == 5
    assert by_address["good@alpha.test"]["verdict"] == "deliverable"
    assert by_address["last@alpha.test"]["reason"] == "mailbox_unknown"
    assert by_address["not an address"]["reason"] == "syntax"
    bad = by_address["caf\ufffd@alpha.test"]
    assert bad["reason"] == "syntax" and "UTF-8" in bad["error"]
    long = next(r for r in results if r["address"].startswith("xxx"))
    assert long["reason"] == "syntax" and "1000012 bytes" in long["error"]
    assert len(long["address"]) < 100
    assert "2 blank lines" in err


async def test_empty_file_is_a_clean_run(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    async with world_of(SHARED, []) as world:
        code, results, err = await run(world, [], file=str(empty))
    assert code == EXIT_OK and results == []
    assert "no address" in err


async def test_csv_input_by_column_and_csv_output(tmp_path: Path) -> None:
    mail = MailHandler(rule=accept_known({"a@alpha.test"}))
    table = tmp_path / "people.csv"
    table.write_text('name,Email\n"Rossi, Anna",a@alpha.test\nBob,b@alpha.test\nNobody,\n')
    out = tmp_path / "out.csv"
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        code, _results, _err = await run(
            world, [], file=str(table), column="email", format="csv", output=str(out)
        )
        bad_column, _r, err = await run(world, [], file=str(table), column="mail")
    assert code == EXIT_UNDELIVERABLE
    lines = out.read_text().splitlines()
    assert lines[0].startswith("address,normalized,verdict,reason")
    assert sorted(line.split(",")[2] for line in lines[1:]) == ["deliverable", "undeliverable"]
    assert bad_column == EXIT_ERROR and "no column 'mail'" in err


async def test_stdin_and_text_format() -> None:
    mail = MailHandler(rule=accept_known({"a@alpha.test"}))
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        code, _results, text = await run(
            world, [], file="-", stdin=b"a@alpha.test\n", format="text", quiet=True
        )
    assert code == EXIT_OK
    assert text.startswith("deliverable   a@alpha.test  ")


async def test_exit_status_unknown_beats_risky() -> None:
    mail = MailHandler(
        rule=lambda a: "252 2.1.5 Cannot verify" if a.startswith("r") else "451 4.3.0 Try later"
    )
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        code, results, _err = await run(world, ["r@alpha.test", "u@alpha.test"])
        risky, _r, _e = await run(world, ["r@alpha.test"])
    assert {r["verdict"] for r in results} == {"risky", "unknown"}
    assert code == EXIT_UNKNOWN and risky == EXIT_RISKY


async def test_usage_errors(tmp_path: Path) -> None:
    async with world_of(SHARED, []) as world:
        no_output, _r, err1 = await run(world, ["a@alpha.test"], resume=True)
        missing, _r, err2 = await run(world, [], file=str(tmp_path / "nope.txt"))
        text_resume, _r, err3 = await run(
            world, ["a@alpha.test"], resume=True, output=str(tmp_path / "o"), format="text"
        )
    assert (no_output, missing, text_resume) == (EXIT_ERROR, EXIT_ERROR, EXIT_ERROR)
    assert "--resume needs --output" in err1
    assert "Cannot read" in err2
    assert "--format jsonl or csv" in err3


# -- resume --------------------------------------------------------------------------


async def test_resume_after_a_truncated_output(tmp_path: Path) -> None:
    mail = MailHandler(rule=accept_known({f"u{i}@alpha.test" for i in range(0, 40, 3)}))
    addresses = [f"u{i}@alpha.test" for i in range(40)] + ["u5@alpha.test", "broken"]
    out = tmp_path / "out.jsonl"
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        await run(world, addresses[:25], output=str(out))
        # A run killed in the middle of a write leaves a partial line behind.
        with out.open("ab") as handle:
            handle.write(b'{"address":"u30@alpha.test","verd')
        rcpts_before = len(commands(mail, "RCPT"))
        code, _r, err = await run(world, addresses, output=str(out), resume=True)
        asked_again = [c for c in commands(mail, "RCPT")[rcpts_before:] if "prober-" not in c]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert Counter(r["address"] for r in records) == Counter(addresses)
    # u25 … u39, and the second u5 of the list (its first result is in the file).
    assert sorted(asked_again) == sorted(f"RCPT {a}" for a in addresses[25:41])
    assert "25 already in the output" in err
    assert code == EXIT_UNDELIVERABLE


def test_written_lines_are_whole_and_flushed(tmp_path: Path) -> None:
    from prober.engine.plan import syntax_result as _syntax_result
    from prober.errors import AddressError
    from prober.output.listio import Writer, load_done, truncate_partial

    path = tmp_path / "o.csv"
    writer = Writer("csv", str(path), io.StringIO(), append=False)
    result = _syntax_result("x", AddressError("x", "no"), "en", 0.0)
    writer.write(result)
    writer.write(replace(result, address='y,"z"'))
    assert path.read_text().count("\n") == 3  # flushed at once: header and two rows
    writer.close()
    path.write_text(path.read_text() + "half,a")
    assert truncate_partial(str(path)) == len("half,a")
    done = load_done(str(path), "csv")
    assert done.take('y,"z"') == "undeliverable"
    assert done.take('y,"z"') is None and done.take("x") == "undeliverable"


# -- kill -9 and resume, with the real command -----------------------------------------


class SlowHandler(MailHandler):
    """Answers each RCPT after a short wait, so a run lasts long enough to be killed."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(0.002)
        return await super().handle_RCPT(server, session, envelope, address, options)


async def test_kill_9_at_random_points_then_resume_gives_each_address_once(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import sys

    domains = ("alpha.test", "beta.test", "gamma.test")
    addresses = [f"user{i}@{d}" for d in domains for i in range(100)] + ["user7@beta.test"]
    random.Random(5).shuffle(addresses)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(addresses) + "\n")
    out = tmp_path / "out.jsonl"
    mail = SlowHandler(rule=accept_known({a for a in addresses if a.startswith("user1")}))
    rng = random.Random()
    async with world_of(SHARED, [MailHost("mx.provider.test", "127.0.0.2", mail)]) as world:
        host, port = world.dns_address
        argv = [
            sys.executable, "-m", "prober", "check",
            "--file", str(listing), "--output", str(out), "--resume",
            "--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private",
            "--helo", "probe.client.test", "--mail-from", "check@client.test",
            "--concurrency", "2", "--rcpt-per-transaction", "5", "--timeout", "5",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        written: list[int] = []
        for _ in range(4):
            before = out.stat().st_size if out.exists() else 0
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
            )
            # Kill at a random moment once this run has begun writing results.
            for _poll in range(2000):
                if process.returncode is not None:
                    break
                if out.exists() and out.stat().st_size > before:
                    await asyncio.sleep(rng.uniform(0.0, 0.15))
                    break
                await asyncio.sleep(0.005)
            if process.returncode is None:
                process.send_signal(signal.SIGKILL)
            await process.wait()
            written.append(out.read_bytes().count(b"\n"))
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        await asyncio.wait_for(process.wait(), 60)
        assert process.stderr is not None
        assert process.returncode == EXIT_UNDELIVERABLE, await process.stderr.read()
    # Killed at least once while results were being written.
    assert any(0 < count < len(addresses) for count in written), written
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert Counter(r["address"] for r in records) == Counter(addresses)


# -- the run's DNS cache ---------------------------------------------------------------


async def test_dns_cache_honours_ttls_and_shares_questions() -> None:
    from prober.resolve.mx import DNSConfig, Resolver

    now = [0.0]
    async with world_of(SHARED, []) as world:
        config = DNSConfig(servers=(world.dns_address,), timeout=2.0)
        resolver = Resolver(config, cache_size=100, clock=lambda: now[0])
        results = await asyncio.gather(*(resolver.resolve_mx("alpha.test") for _ in range(5)))
        # MX, then A and AAAA of the MX host: once for five questions at once.
        assert resolver.network_queries == 3
        assert {r.hosts[0].addresses for r in results} == {("127.0.0.2",)}
        assert {q.name for q in world.dns.queries} == {"alpha.test.", "mx.provider.test."}
        now[0] = 59.0
        await resolver.resolve_mx("alpha.test")
        assert resolver.network_queries == 3
        await resolver.resolve_mx("beta.test")  # same MX host: only beta's MX is new
        assert resolver.network_queries == 4
        now[0] = 61.0  # "no AAAA" is kept for a minute; the records for their TTL (300 s)
        await resolver.resolve_mx("alpha.test")
        assert resolver.network_queries == 5
        now[0] = 301.0
        await resolver.resolve_mx("alpha.test")
        assert resolver.network_queries == 8  # all expired: all three asked again
