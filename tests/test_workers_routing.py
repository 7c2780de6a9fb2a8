"""Routing rows by the MX host that answers for them (pure)."""

from __future__ import annotations

from prober.resolve.mx import MXHost, MXResult, MXStatus
from prober.workers.routing import NO_HOST, Batch, Batcher, domain_of, group, host_of


def mx(status: MXStatus, *hosts: MXHost, domain: str = "example.test") -> MXResult:
    return MXResult(domain, status, hosts, "", 0.0)


def test_the_best_mx_with_an_address_answers() -> None:
    result = mx(
        MXStatus.OK,
        MXHost("MX2.example.test", 10, ("127.0.0.3",), None),
        MXHost("mx1.example.test", 10, ("127.0.0.2",), None),
        MXHost("backup.example.test", 20, ("127.0.0.4",), None),
    )
    assert host_of(result) == "mx1.example.test"  # equal preferences: by name, lower-cased


def test_a_best_mx_without_address_gives_way() -> None:
    result = mx(
        MXStatus.OK,
        MXHost("gone.example.test", 0, (), "The host has no address."),
        MXHost("mx.example.test", 10, ("127.0.0.2",), None),
    )
    assert host_of(result) == "mx.example.test"


def test_implicit_mx_is_the_domain_and_lasting_failures_have_no_host() -> None:
    assert host_of(mx(MXStatus.IMPLICIT)) == "example.test"
    for status in (MXStatus.NULL_MX, MXStatus.NO_DOMAIN, MXStatus.NO_MAIL_HOSTS):
        assert host_of(mx(status)) is None


def test_domain_of() -> None:
    assert domain_of("Alice@Example.TEST") == "example.test"
    assert domain_of("not an address") is None


def test_group_batches_per_host_in_row_order_biggest_host_first() -> None:
    routes = {"a.test": "mx.shared.test", "b.test": "mx.shared.test", "c.test": "mx.c.test"}
    rows = [(0, "a.test"), (1, "c.test"), (2, "b.test"), (3, None), (4, "a.test"),
            (5, "unrouted.test"), (6, "b.test")]
    assert group(rows, routes, 2) == [
        Batch("mx.shared.test", (0, 2)),
        Batch("mx.shared.test", (4, 6)),
        Batch(NO_HOST, (3, 5)),
        Batch("mx.c.test", (1,)),
    ]


def test_the_batcher_gives_full_batches_at_once_and_the_rest_biggest_host_first() -> None:
    batcher = Batcher(3)
    assert batcher.add("mx.big.test", [7, 1, 4, 9]) == [Batch("mx.big.test", (1, 4, 7))]
    assert batcher.add("mx.small.test", [2]) == []
    assert batcher.add("mx.big.test", [3, 5]) == [Batch("mx.big.test", (3, 5, 9))]
    assert batcher.add("mx.mid.test", [6, 8]) == []
    # Left: big 0 of 6 rows, mid 2, small 1; biggest host (by all its rows) first.
    assert batcher.add("mx.big.test", [10]) == []
    assert batcher.flush() == [
        Batch("mx.big.test", (10,)), Batch("mx.mid.test", (6, 8)), Batch("mx.small.test", (2,)),
    ]
    assert batcher.flush() == []
