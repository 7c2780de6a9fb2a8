"""How a program uses prober, checked by ``mypy --strict`` (tests/test_library.py).

Nothing here runs at import: the functions are the examples, typed as a user writes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import prober
from prober import (
    Bounce,
    DNSConfig,
    Explanation,
    ProbeEvent,
    ProbeOptions,
    ProbeResult,
    Reason,
    Verdict,
)


def options() -> ProbeOptions:
    return ProbeOptions(
        helo="probe.example.com",
        mail_from="postmaster@example.com",
        dns=DNSConfig.parse("127.0.0.53:5353", "::1", timeout=3.0),
        lang="it",
    )


def one(address: str) -> bool:
    result: ProbeResult = prober.probe_sync(address, options())
    reason: Reason = result.reason
    return result.verdict is Verdict.DELIVERABLE and reason is not Reason.CATCH_ALL


async def watched(address: str) -> list[str]:
    seen: list[str] = []

    def on_event(event: ProbeEvent) -> None:
        if event.step is not None and event.step.reply is not None:
            seen.append(f"{event.at:.1f}s {event.step.reply.code}")

    result = await prober.probe(address, options(), on_event=on_event)
    seen.append(result.summary)
    return seen


async def many(addresses: list[str]) -> dict[str, Verdict]:
    verdicts: dict[str, Verdict] = {}
    async for result in prober.probe_many(addresses, options(), concurrency=5):
        verdicts[result.address] = result.verdict
    return verdicts


def many_sync(addresses: list[str]) -> Iterator[tuple[str, str]]:
    for result in prober.probe_many_sync(addresses, options(), per_host=1):
        yield result.address, str(result.reason)


def why(reply: str) -> tuple[str, bool | None]:
    explained: Explanation = prober.explain_text(reply, lang="it")
    return explained.meaning, explained.permanent


def bounced(raw: bytes) -> list[str | None]:
    bounce: Bounce = prober.parse_bounce(raw)
    return [recipient.address for recipient in bounce.recipients]


if __name__ == "__main__":
    print(asyncio.run(many([])))
