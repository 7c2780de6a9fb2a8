"""The per-address plan without sockets: routing, the guard, judging, deadline, retries."""

from __future__ import annotations

from prober.address import parse_address
from prober.engine.plan import RECONNECTS, AddressPlan
from prober.engine.verdict import Reason, Verdict
from prober.explanation.catalogue import Stage
from prober.explanation.explain import explain_event, explain_reply
from prober.guard import Guard
from prober.resolve.mx import MXHost, MXResult, MXStatus
from prober.results import Attempt, ProbeOptions, Step
from prober.smtp.reply import Reply

OPTIONS = ProbeOptions(helo="c.test", mail_from="s@c.test", deadline=10.0, max_hosts=2)
TWO_MX = MXResult(
    "x.test",
    MXStatus.OK,
    (
        MXHost("mx1.x.test", 10, ("192.0.2.1", "10.0.0.1"), None),
        MXHost("mx2.x.test", 20, (), "mx2.x.test has no A or AAAA record."),
        MXHost("mx3.x.test", 30, ("192.0.2.3",), None),
    ),
    "",
    0.0,
)


def plan_for(address: str = "alice@x.test", began: float = 100.0) -> AddressPlan:
    return AddressPlan(address, parse_address(address), OPTIONS, began)


def refuse_private(ip: str) -> str | None:
    return None if ip.startswith("192.0.2.") else Guard().refusal(ip)


def answered(plan: AddressPlan, code: int, text: str, ip: str = "192.0.2.1") -> Attempt:
    reply = Reply(code, (text,))
    step = Step(Stage.RCPT, f"RCPT TO:<{plan.path}>", reply, explain_reply(reply, Stage.RCPT), 0, 0)
    return Attempt("mx1.x.test", ip, 25, (step,), "rcpt_answered", False, rcpt={plan.path: reply})


def failed(kind: str, detail: str, ip: str = "192.0.2.1") -> Attempt:
    step = Step(Stage.BANNER, None, None, explain_event(kind, detail), 0, 0, event=kind)
    return Attempt("mx1.x.test", ip, 25, (step,), kind, True)


def test_targets_follow_mx_order_within_max_hosts() -> None:
    plan = plan_for()
    assert plan.route(TWO_MX) is None
    # max_hosts=2: mx3 is never tried; mx2 has no address and is kept to be explained.
    assert list(plan.targets) == [
        ("mx1.x.test", "192.0.2.1"),
        ("mx1.x.test", "10.0.0.1"),
        ("mx2.x.test", None),
    ]


def test_guard_and_missing_addresses_are_skipped_and_recorded() -> None:
    plan = plan_for()
    plan.route(TWO_MX)
    assert plan.next_target(refuse_private, 100.5) == ("mx1.x.test", "192.0.2.1")
    plan.move_on()
    assert plan.next_target(refuse_private, 100.6) is None  # 10.0.0.1 refused, mx2 empty
    assert [a.outcome for a in plan.attempts] == ["guard", "no_address"]
    assert [f.kind for f in plan.failures] == ["guard", "no_address"]
    decision = plan.exhausted()
    assert decision.reason is Reason.NO_CONNECTION  # the last connection failure


def test_mx_failure_decides_at_once() -> None:
    plan = plan_for()
    decision = plan.route(MXResult("x.test", MXStatus.NULL_MX, (), "null MX", 0.0))
    assert decision is not None and decision.reason is Reason.NULL_MX
    assert not plan.targets


def test_address_literal_needs_no_mx() -> None:
    plan = plan_for("bob@[192.0.2.9]")
    assert plan.route(None) is None
    assert list(plan.targets) == [("192.0.2.9", "192.0.2.9")]


def test_a_definite_answer_decides_with_the_catch_all_answer() -> None:
    plan = plan_for()
    plan.route(TWO_MX)
    accepted = answered(plan, 250, "2.1.5 ok")
    decision = plan.judge(accepted, Reply(250, ("2.1.5 ok",)))
    assert decision is not None and decision.reason is Reason.CATCH_ALL
    plan2 = plan_for()
    decision = plan2.judge(answered(plan2, 250, "2.1.5 ok"), Reply(550, ("5.1.1 no",)))
    assert decision is not None and decision.reason is Reason.ACCEPTED
    assert decision.catch_all is False
    result = plan2.result(decision, 101.25)
    assert result.verdict is Verdict.DELIVERABLE and result.elapsed == 1.25


def test_a_temporary_answer_lets_the_next_mx_speak_then_stands() -> None:
    plan = plan_for()
    plan.route(TWO_MX)
    assert plan.judge(answered(plan, 451, "4.3.0 try later"), None) is None
    plan.move_on()
    assert plan.next_target(refuse_private, 101.0) is None
    decision = plan.exhausted()
    assert decision.verdict is Verdict.UNKNOWN
    assert decision.deciding is not None and decision.deciding.code == 451


def test_failures_are_ranked_when_nothing_answered() -> None:
    plan = plan_for()
    plan.route(TWO_MX)
    assert plan.judge(failed("timeout", "no banner within 1 s"), None) is None
    assert plan.judge(failed("refused", "connection refused"), None) is None
    assert plan.exhausted().reason is Reason.SERVER_UNAVAILABLE  # a timeout says more


def test_deadline_keeps_what_the_address_was_waiting_for() -> None:
    plan = plan_for(began=50.0)
    plan.route(TWO_MX)
    assert plan.deadline == 60.0
    plan.judge(failed("timeout", "mx1.x.test port 25 sent no complete reply within 3 s."), None)
    decision = plan.expire(60.05)
    assert decision.reason is Reason.DEADLINE
    assert decision.deciding is not None
    assert "no complete reply" in decision.deciding.text


def test_deadline_after_a_temporary_answer_reports_the_answer() -> None:
    plan = plan_for()
    plan.route(TWO_MX)
    plan.judge(answered(plan, 450, "4.2.0 greylisted, come back in 300 seconds"), None)
    assert plan.expire(111.0).reason is Reason.GREYLISTED


def test_reconnects_are_bounded() -> None:
    plan = plan_for()
    assert all(plan.may_reconnect() for _ in range(RECONNECTS))
    assert not plan.may_reconnect()
    plan.move_on()  # a new target starts a new count
    assert plan.may_reconnect()
