"""What batch sizing within a server's error budget can achieve: a simulation, no network.

    python benchmarks/batch_policy.py [--refused 0.2] [--estimate 0.23] [--budget 10]
                                      [--flight-ms 60] [--opening-s 0.42] [--sessions 20000]

A session on a server that punishes refused RCPTs past a budget (Postfix: ten, then a
second before every reply) asks in pipelined batches. Each batch costs a round trip; a
batch whose refusals reach the budget before its last RCPT costs a second more (the next
reply is held back, the session then ends, and the unanswered RCPTs go to another
session). This script plays many sessions of one host with the engine's own sizing rule
(:func:`prober.engine.core.batch_size`) at several ``spread`` values (the engine uses 3)
and prints, for each, the addresses a connection slot answers per second and what the
busiest host of ``benchmarks/realworld.py``'s Zipf list (818 addresses, two sessions at
once) would need at best.

It answers one question with numbers: how much faster could the critical host of that
list go with bolder batches — and how far is any client that cannot know in advance
which addresses are refused from the computed floor of 7 round trips per session.
Add ``--opening-s 1.42`` to count Postfix's flow-control second in every session.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prober.engine.core import batch_size  # noqa: E402

BUSIEST = 818  # the Zipf list's largest domain: addresses, on one MX host
PER_HOST = 2


def session(
    rng: random.Random,
    refused: float,
    estimate: float,
    budget: int,
    spread: float,
    flight: float,
    opening: float,
    per_session: int = 100,
) -> tuple[float, int]:
    """(seconds, addresses answered) of one session."""
    seconds = opening
    asked = refusals = 0
    while asked < per_session:
        left = budget - refusals
        room = min(per_session - asked, batch_size(left, estimate, per_session, spread))
        if room <= 0:
            break
        seconds += flight
        for position in range(room):
            asked += 1
            if rng.random() < refused:
                refusals += 1
                if refusals == budget:
                    if position < room - 1:
                        seconds += 1.0  # the next reply waits a second; then hang up
                        asked += 1  # that reply is in too
                    return seconds, asked
    return seconds, asked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refused", type=float, default=0.2, help="share refused (truth)")
    parser.add_argument("--estimate", type=float, default=0.23, help="the engine's estimate")
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--flight-ms", type=float, default=60.0, help="one batch's round trip")
    parser.add_argument(
        "--opening-s", type=float, default=0.42, help="connect, EHLO, STARTTLS, TLS, EHLO"
    )
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    flight = args.flight_ms / 1000
    floor_session = args.opening_s + flight  # every refusal known in advance: one batch
    print(
        f"refused {args.refused:.0%} (estimated {args.estimate:.0%}), budget {args.budget}, "
        f"flight {args.flight_ms:g} ms, opening {args.opening_s:g} s"
    )
    print(f"{'spread':>7} {'s/session':>10} {'addr/session':>13} {'addr/s/slot':>12} "
          f"{'busiest host s':>15}")  # fmt: skip
    for spread in (3.0, 2.0, 1.5, 1.0, 0.5, 0.0):
        total_s = total_a = 0.0
        for _ in range(args.sessions):
            seconds, answered = session(
                rng, args.refused, args.estimate, args.budget, spread, flight, args.opening_s
            )
            total_s += seconds
            total_a += answered
        rate = total_a / total_s
        busiest = BUSIEST / (PER_HOST * rate)
        print(f"{spread:>7g} {total_s / args.sessions:>10.2f} {total_a / args.sessions:>13.1f} "
              f"{rate:>12.1f} {busiest:>15.1f}")  # fmt: skip
    refusals = BUSIEST * args.refused + 1
    clairvoyant = -(-refusals // args.budget) / PER_HOST * floor_session
    print(f"clairvoyant floor for the busiest host (each session exactly {args.budget} "
          f"refusals in one batch): {clairvoyant:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
