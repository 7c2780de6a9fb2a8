"""The engine against servers that count errors, cut batches short and stall, on loopback.

The error-counting server behaves as Postfix's smtpd does with its defaults: every
refused RCPT is an error of the session; from ``soft`` errors on, every reply waits
``sleep`` seconds first (smtpd_soft_error_limit, smtpd_error_sleep_time); at ``hard``
errors it says 421 and hangs up (smtpd_hard_error_limit).
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from prober.engine.bulk import ListOptions, run_list_async
from prober.engine.core import Engine, EngineLimits
from prober.engine.verdict import Reason
from prober.results import ProbeResult
from prober.testing.world import MailHost, Script
from tests.conftest import options_for, world_of

ZONE = {
    "alpha.test.": [("MX", 10, "mx.alpha.test.")],
    "mx.alpha.test.": [("A", "127.0.0.2")],
}


@dataclass
class Counting:
    """What the error-counting server saw: errors per session, sleeps, 421s."""

    soft: int = 10
    hard: int = 20
    sleep: float = 1.0
    errors: list[int] = field(default_factory=list)  # per session, at its end
    slept: int = 0
    hung_up: int = 0
    close_after_rcpts: int | None = None  # first session only: hang up mid-batch
    sessions: int = 0
    made_up: int = 0  # catch-all questions (RCPTs of prober's own made-up addresses)
    open: int = 0  # sessions the server holds now, and the most at once
    most: int = 0

    def script(self) -> Script:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.sessions += 1
            self.open += 1
            self.most = max(self.most, self.open)
            first = self.sessions == 1
            errors = 0
            rcpts = 0

            async def say(text: str) -> None:
                if errors >= self.soft:
                    self.slept += 1
                    await asyncio.sleep(self.sleep)
                writer.write(text.encode() + b"\r\n")
                await writer.drain()

            try:
                await say("220 mx.alpha.test ESMTP")
                while line := await reader.readline():
                    verb = line[:4].upper()
                    if verb == b"EHLO":
                        await say("250-mx.alpha.test\r\n250-PIPELINING\r\n250 8BITMIME")
                    elif verb in (b"MAIL", b"RSET"):
                        await say("250 2.0.0 Ok")
                    elif verb == b"RCPT":
                        rcpts += 1
                        if first and self.close_after_rcpts is not None:
                            if rcpts > self.close_after_rcpts:
                                return
                        path = line.decode().partition("<")[2].partition(">")[0]
                        self.made_up += path.startswith("prober-")
                        if path.startswith("ok"):
                            await say("250 2.1.5 Ok")
                            continue
                        if errors >= self.hard:
                            self.hung_up += 1
                            writer.write(b"421 4.7.0 mx.alpha.test Error: too many errors\r\n")
                            await writer.drain()
                            return
                        # As Postfix counts: the reply's own refusal is counted after it.
                        await say(f"550 5.1.1 <{path}>: Recipient address rejected")
                        errors += 1
                    elif verb == b"QUIT":
                        await say("221 2.0.0 Bye")  # held back too once punishing
                        return
                    else:
                        await say("502 5.5.2 Error: command not recognized")
            finally:
                self.errors.append(errors)
                self.open -= 1
                writer.close()

        return serve


def addresses(count: int, unknown_every: int = 3) -> list[str]:
    return [
        f"no{i}@alpha.test" if i % unknown_every == 0 else f"ok{i}@alpha.test" for i in range(count)
    ]


async def run_list(
    server: Counting, items: list[str], **limits: object
) -> tuple[list[ProbeResult], float]:
    results: list[ProbeResult] = []
    async with world_of(
        ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=server.script())]
    ) as w:
        options = ListOptions(
            probe=options_for(w, catch_all_check=False, timeout=5.0, deadline=30.0),
            quiet=True,
            **limits,  # type: ignore[arg-type]
        )
        started = time.monotonic()
        await run_list_async(
            items,
            None,
            options,
            stdout=io.StringIO(),
            stderr=io.StringIO(),
            rng=random.Random(1),
            on_result=lambda _entry, result: results.append(result),
        )
        elapsed = time.monotonic() - started
    return results, elapsed


def right(results: list[ProbeResult]) -> bool:
    return all(
        r.reason is (Reason.ACCEPTED if r.address.startswith("ok") else Reason.MAILBOX_UNKNOWN)
        for r in results
    )


async def test_sessions_stay_below_postfix_default_error_limit() -> None:
    server = Counting()
    items = addresses(90)  # 30 unknown users: three times Postfix's soft limit
    results, elapsed = await run_list(server, items, per_host=1)
    assert len(results) == 90 and right(results)
    assert server.slept == 0 and server.hung_up == 0
    assert max(server.errors) <= 10  # never past smtpd_soft_error_limit
    assert server.sessions <= 5  # 30 refusals at most 10 a session: 3 sessions, maybe 5
    assert elapsed < 5.0


async def test_the_server_never_holds_more_sessions_than_per_host() -> None:
    # Counted at the server, from its accept to its close: a session whose QUIT the
    # prober does not wait for still counts until the server has answered it, so the
    # next session of the host waits for that, not only for the prober's side to close.
    server = Counting(soft=4, hard=40, sleep=0.3)
    items = addresses(60, unknown_every=2)  # 30 unknown users: several sessions
    results, _elapsed = await run_list(server, items, per_host=1)
    assert len(results) == 60 and right(results)
    assert server.sessions >= 5
    assert server.most == 1, server.most


async def test_a_smaller_budget_is_learnt_from_slow_replies() -> None:
    server = Counting(soft=4, hard=40, sleep=1.2)
    items = addresses(60, unknown_every=2)  # 30 unknown users
    results, _elapsed = await run_list(server, items, per_host=1)
    assert len(results) == 60 and right(results)
    # The first session runs into the punishment and teaches the host its budget; the
    # sessions after it stay below it.
    assert server.errors[0] >= 4
    assert all(errors <= 4 for errors in server.errors[2:]), server.errors
    assert server.slept < 20


async def test_a_budget_crossed_by_our_own_batch_is_not_lowered() -> None:
    # Twenty-seven accepted addresses (three batches of nine: a session keeps one of the
    # ten refusals in hand) teach a low refusal rate, so the next batch is large; the
    # unknown users after them carry it far past the budget of ten. The slow replies
    # that follow are the budget as said, not a smaller one: later sessions keep ten.
    server = Counting(soft=10, hard=500, sleep=0.02)
    items = [f"ok{i}@alpha.test" for i in range(27)]
    items += [f"no{i}@alpha.test" for i in range(27, 127)]
    items += [f"ok{i}@alpha.test" for i in range(127, 147)]
    results, _elapsed = await run_list(server, items, per_host=1)
    assert len(results) == 147 and right(results)
    assert server.errors[0] > 10  # the first session went past the budget
    # Nine refusals a session for those left after the first; a budget lowered to what
    # the first session had refused before that batch (none; two at the least) would
    # take a session for every refusal (seventy and more).
    assert server.sessions <= 2 + (100 - server.errors[0]) // 9, server.errors
    assert all(errors <= 9 for errors in server.errors[1:]), server.errors


async def test_what_a_host_taught_outlives_an_idle_moment() -> None:
    server = Counting(soft=4, hard=40, sleep=0.5)
    async with world_of(
        ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=server.script())]
    ) as w:
        options = options_for(w, catch_all_check=False, timeout=5.0, deadline=30.0)
        async with Engine(options, EngineLimits(per_host=1)) as engine:
            first = [r async for _item, r in engine.stream(addresses(40, unknown_every=2))]
            taught, slept = len(server.errors), server.slept
            assert server.errors[0] > 4  # the first session found the smaller budget
            await asyncio.sleep(0.2)  # nothing queued, no session open: the host is idle
            second = [
                r
                async for _item, r in engine.stream([f"no{i}@alpha.test" for i in range(100, 112)])
            ]
    assert right(first) and right(second)
    # The second list's sessions start from the budget learnt (four, or five when it was
    # read one late), not from the default ten that the first session had to unlearn.
    assert all(errors <= 5 for errors in server.errors[taught:]), server.errors
    assert server.slept - slept <= len(server.errors) - taught, (server.slept, slept)


async def test_old_lessons_are_asked_again() -> None:
    # An engine that runs for days forgets, after ``lessons`` seconds, a lowered error
    # budget and a domain's catch-all answer: the server may have changed.
    server = Counting(soft=4, hard=40, sleep=0.3)
    async with world_of(
        ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=server.script())]
    ) as w:
        options = options_for(w, timeout=5.0, deadline=30.0)
        later = [0.0]  # the engine's clock runs this much ahead of the monotonic clock

        def clock() -> float:
            return time.monotonic() + later[0]

        limits = EngineLimits(per_host=1, lessons=3600.0)
        async with Engine(options, limits, clock=clock) as engine:
            first = [r async for _item, r in engine.stream(addresses(40, unknown_every=2))]
            await asyncio.sleep(0.2)  # the server has seen the last session end
            taught, asked = len(server.errors), server.made_up
            assert server.errors[0] > 4 and asked == 1
            later[0] = 3601.0  # an hour on
            second = [
                r
                async for _item, r in engine.stream(
                    ["ok200@alpha.test"] + [f"no{i}@alpha.test" for i in range(100, 112)]
                )
            ]
    assert right(first) and right(second)
    # The budget is ten again (the first session of the second list goes past four and
    # learns it anew), and the catch-all question is asked a second time.
    assert server.errors[taught] > 5, server.errors
    assert server.made_up == 2


async def test_replies_before_a_batch_is_cut_off_are_kept() -> None:
    server = Counting(close_after_rcpts=3)
    items = [f"ok{i}@alpha.test" for i in range(3)] + ["no3@alpha.test", "ok4@alpha.test"]
    results, _elapsed = await run_list(server, items, per_host=1)
    by_address = {r.address: r for r in results}
    assert right(results) and len(results) == 5
    # The three answered before the hang-up were judged from the first connection.
    for address in items[:3]:
        assert len(by_address[address].attempts) == 1, by_address[address].attempts
    # Only those without an answer were asked again, on a second connection.
    assert len(by_address["no3@alpha.test"].attempts) == 2
    assert server.sessions == 2


async def test_a_session_takes_addresses_that_arrive_while_it_is_open() -> None:
    server = Counting()

    async def trickle() -> object:
        for i in range(6):
            yield f"ok{i}@alpha.test"
            await asyncio.sleep(0.05)

    async with world_of(
        ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=server.script())]
    ) as w:
        options = options_for(w, catch_all_check=False)
        async with Engine(options, EngineLimits(per_host=1)) as engine:
            results = [r async for _item, r in engine.stream(trickle())]
    assert len(results) == 6 and right(results)
    assert server.sessions == 1  # one connection, fed as the addresses came


async def test_deadline_is_per_address_in_a_stream() -> None:
    """A server that answers two RCPTs per connection, then stalls: every address ends
    within its own deadline (not a new deadline per connection)."""

    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.alpha.test ESMTP\r\n")
        rcpts = 0
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-mx.alpha.test\r\n250 PIPELINING\r\n")
            elif verb == b"RCPT":
                rcpts += 1
                if rcpts > 2:
                    await asyncio.sleep(60)
                writer.write(b"250 2.1.5 Ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 Bye\r\n")
                return
            else:
                writer.write(b"250 Ok\r\n")
            await writer.drain()

    async with world_of(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=stall)]) as w:
        options = options_for(w, catch_all_check=False, timeout=20.0, deadline=2.0)
        started = time.monotonic()
        async with Engine(options, EngineLimits(per_host=1)) as engine:
            results = [r async for _item, r in engine.stream(addresses(8, unknown_every=99))]
        elapsed = time.monotonic() - started
    reasons = Counter(r.reason for r in results)
    assert reasons[Reason.ACCEPTED] >= 2 and reasons[Reason.DEADLINE] >= 1
    assert all(r.elapsed <= 2.0 + 0.5 for r in results), [r.elapsed for r in results]
    assert elapsed < 4.0


async def test_on_event_tells_a_live_transcript_as_it_happens() -> None:
    """MX, connecting, each step as it completes, and every second of a slow wait."""

    async def slow_rcpt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 mx.alpha.test ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-mx.alpha.test\r\n250 PIPELINING\r\n")
            elif verb == b"RCPT":
                await asyncio.sleep(1.5)
                writer.write(b"550 5.1.1 no such user\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 Bye\r\n")
                return
            else:
                writer.write(b"250 Ok\r\n")
            await writer.drain()

    events = []
    async with world_of(ZONE, [MailHost("mx.alpha.test", "127.0.0.2", script=slow_rcpt)]) as w:
        async with Engine(options_for(w)) as engine:
            result = await engine.submit("nobody@alpha.test", on_event=events.append)
    assert result.reason is Reason.MAILBOX_UNKNOWN
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["mx", "connecting"]
    steps = [e.step for e in events if e.kind == "step" and e.step is not None]
    assert [s.sent for s in steps][-1] == "RCPT TO:<nobody@alpha.test>"
    waiting = [e for e in events if e.kind == "waiting"]
    assert waiting and all(e.stage is not None for e in waiting)
    assert waiting[0].elapsed >= 0.9
