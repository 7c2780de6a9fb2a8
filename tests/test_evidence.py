"""Explanations as weighed evidence: real replies, one by one.

Every text here is a real reply kept under ``fixtures/replies/`` with its source in the
file's ``#`` lines. ``fixtures/replies/codes/`` holds replies that the codes decide (an
enhanced code quoted inside the text, a temporary code, a sender refusal); each names
its expected category on an ``# expect:`` line. The probe-level tests at the end drive
the real prober against the loopback world.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from prober.engine.verdict import Reason, Verdict, decide_rcpt
from prober.errors import CatalogueError
from prober.explanation.catalogue import Category, Stage, _load_patterns, load
from prober.explanation.explain import (
    confidence_level,
    explain,
    explain_text,
    why_we_think_so,
)
from prober.output.render import explanation_text
from prober.results import ProbeResult
from prober.smtp.reply import Reply
from prober.testing.dnsserver import RecordSpec
from prober.testing.world import MailHandler, MailHost, banner_then
from tests.conftest import probe_in, world_of

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "replies"
CODES = FIXTURES / "codes"

# Categories a reply about the sender, the message or the way to the server has; none
# of them may ever be read as a missing mailbox or domain.
SENDER_SIDE = {
    Category.BLOCKED_IP_REPUTATION,
    Category.BLOCKED_SPAM_CONTENT,
    Category.POLICY_SPF_DKIM_DMARC,
    Category.RATE_LIMITED,
    Category.TLS_REQUIRED,
    Category.DELIVERY_EXPIRED,
    Category.REMOTE_UNREACHABLE,
}
NEGATIVE = {Category.MAILBOX_UNKNOWN, Category.MAILBOX_DISABLED, Category.DOMAIN_UNKNOWN}


def _reply(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.startswith("#")).strip()


def _expected(path: Path) -> Category:
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#\s*expect:\s*(\w+)", line)
        if match:
            return Category(match.group(1))
    raise AssertionError(f"{path.name} has no '# expect:' line")


def _text(folder: str, name: str) -> str:
    return _reply(FIXTURES / folder / name)


# --- replies the codes decide ---------------------------------------------------------


@pytest.mark.parametrize("path", sorted(CODES.glob("*.txt")), ids=lambda p: p.stem)
def test_reply_read_by_its_codes(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    assert raw.startswith("#"), f"{path.name} does not name its source"
    why = explain_text(_reply(path))
    assert why.category is _expected(path), why.evidence
    assert why.evidence, "an explanation always says what it rests on"


def test_enhanced_code_inside_the_text_is_evidence() -> None:
    why = explain_text(_reply(CODES / "exchange-550-4.4.7-expired.txt"))
    assert why.category is Category.DELIVERY_EXPIRED
    assert why.permanent is True  # the 550 still says the attempt is over
    assert any("4.4.7" in item and "in the text" in item for item in why.evidence)


def test_mailbox_full_code_quoted_in_a_bounce_gives_its_category() -> None:
    why = explain_text(_reply(CODES / "ses-mailbox-full-in-text.txt"))
    assert why.category is Category.MAILBOX_FULL
    assert any("5.2.2" in item for item in why.evidence)


def test_temporary_code_reading_as_unknown_mailbox_is_outweighed() -> None:
    why = explain_text(_reply(CODES / "comcast-4.1.1-rate.txt"))
    assert why.category is Category.RATE_LIMITED
    assert any("4.1.1" in item and "too weak" in item for item in why.evidence)
    bare = explain_text("450 4.1.1 <a@b.test>: Recipient address rejected: unverified address")
    assert bare.category is not Category.MAILBOX_UNKNOWN
    assert any("4.1.1" in item and "too weak" in item for item in bare.evidence)


def test_user_unknown_about_the_sender_is_not_a_missing_recipient() -> None:
    why = explain_text(_reply(CODES / "postfix-sender-user-unknown.txt"))
    assert why.category is Category.OTHER
    assert why.rule == "pattern:sender-address-rejected"


def test_an_ip_address_opening_the_line_is_not_the_reply_code() -> None:
    why = explain_text(_reply(CODES / "qmail-ip-before-reply.txt"))
    assert why.code == 550
    assert why.category is Category.BLOCKED_IP_REPUTATION


# --- harmful confusions ---------------------------------------------------------------


def _sender_side_examples() -> list[Path]:
    return [
        path
        for pattern in load().patterns
        if pattern.reading.category in SENDER_SIDE
        for path in sorted((FIXTURES / pattern.id).glob("*.txt"))
    ] + [path for path in sorted(CODES.glob("*.txt")) if _expected(path) in SENDER_SIDE]


@pytest.mark.parametrize("path", _sender_side_examples(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sender_side_reply_is_never_a_missing_mailbox(path: Path) -> None:
    for stage in (None, Stage.RCPT):
        why = explain_text(_reply(path), stage=stage)
        assert why.category not in NEGATIVE, (stage, why.evidence)


def test_block_beats_codes_saying_user_unknown_but_costs_confidence() -> None:
    # The real Spamhaus refusal, and the same words under a 5.1.1 that contradicts them.
    text = _text("spamhaus", "reacher.txt")
    plain = explain_text(text)
    contradicted = explain_text(text.replace("5.7.1", "5.1.1"))
    assert plain.category is contradicted.category is Category.BLOCKED_IP_REPUTATION
    assert contradicted.confidence < plain.confidence
    assert any("outweighed" in item for item in contradicted.evidence)


@pytest.mark.parametrize(
    ("reply", "stage"),
    [("550", Stage.RCPT), ("550", None), ("553", Stage.RCPT), ("550 5.1.0", Stage.RCPT)],
)
def test_unrecognised_refusal_is_other_not_a_missing_mailbox(reply: str, stage: Stage) -> None:
    why = explain_text(reply, stage=stage)
    assert why.category is Category.OTHER
    assert confidence_level(why.confidence) == "low"


def test_pec_refusal_of_uncertified_mail_is_not_an_unknown_recipient() -> None:
    # "Indirizzo destinatario sconosciuto o non abilitato …": the longer words decide.
    why = explain_text(_text("pec-non-certified", "guide-pec-it.txt"))
    assert why.category is Category.OTHER
    assert why.rule == "pattern:pec-non-certified"


# --- confidence and evidence ----------------------------------------------------------


def test_confidence_words() -> None:
    assert [confidence_level(c) for c in (0.9, 0.75, 0.5, 0.45, 0.2)] == [
        "high",
        "high",
        "medium",
        "medium",
        "low",
    ]


def test_successes_and_client_events_are_certain() -> None:
    assert explain_text("250 2.1.5 Ok").confidence == 1.0
    assert explain_text("111").confidence == 1.0


def test_unknown_digits_say_so_with_low_confidence() -> None:
    why = explain_text("599 something odd")
    assert why.category is Category.OTHER
    assert why.confidence < 0.45
    assert why.evidence == ("only the digits of 599 → other",)


def test_evidence_is_in_the_explanations_language() -> None:
    text = _text("spamhaus", "reacher.txt")
    english = explain_text(text)
    italian = explain_text(text, lang="it")
    assert english.evidence[0].startswith("text 'blocked using zen.spamhaus.org'") or any(
        item.startswith("text 'spamhaus'") for item in english.evidence
    )
    assert all("'" not in item for item in italian.evidence)  # «…» in Italian
    assert any(item.startswith("testo «") for item in italian.evidence)
    assert any("codici 554 + 5.7.1" in item for item in italian.evidence)


def test_why_we_think_so_is_one_line_in_both_languages() -> None:
    text = _text("spamhaus", "reacher.txt")
    english = why_we_think_so(explain_text(text))
    italian = why_we_think_so(explain_text(text, lang="it"))
    assert english.startswith("Why we think so: ") and "\n" not in english
    assert "→ [blocked_ip_reputation]" in english and "confidence high" in english
    assert italian.startswith("Perché lo pensiamo: ") and "affidabilità alta" in italian


def test_text_output_shows_why() -> None:
    why = explain_text(_text("cisco-poor-reputation", "smtp-validate-email-40.txt"), lang="it")
    shown = explanation_text(why)
    assert "Perché lo pensiamo:" in shown
    assert "cisco-poor-reputation" in shown


def test_json_keeps_its_fields_and_adds_confidence_and_evidence() -> None:
    data = explain_text(
        _text("ms-code-unreachable", "microsoft-exchange-online-ndr-1.txt")
    ).to_dict()
    assert data["category"] == "remote_unreachable"
    assert isinstance(data["confidence"], float) and 0 <= data["confidence"] <= 1
    assert isinstance(data["evidence"], list) and data["evidence"]
    for key in ("code", "enhanced_code", "permanent", "meaning", "action", "who", "rule"):
        assert key in data


# --- the catalogue's weights and sources ----------------------------------------------


def test_every_rule_weighs_something_and_names_its_sources() -> None:
    for pattern in load().patterns:
        assert 0 < pattern.weight <= 1, pattern.id
        assert pattern.sources, f"pattern {pattern.id} names no source"


def test_leaving_a_source_out_switches_its_rules_off() -> None:
    full = load()
    without = full.without("microsoft-exchange-online-ndr")
    gone = {p.id for p in full.patterns} - {p.id for p in without.patterns}
    assert "ms-code-unreachable" in gone and "spamhaus" not in gone
    text = _text("ms-code-unreachable", "microsoft-exchange-online-ndr-1.txt")
    from prober.smtp.reply import parse_pasted

    parsed = parse_pasted(text)
    blind = explain(parsed.code, parsed.text, enhanced=parsed.enhanced, catalogue=without)
    assert blind.rule != "pattern:ms-code-unreachable"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"id": "x", "match": "a", "weight": 1.5}, "weight"),
        ({"id": "x", "match": "a", "weight": 0}, "weight"),
        ({"id": "x", "match": "a", "sources": "one"}, "sources"),
        ({"id": "x"}, "needs a 'match'"),
        ({"id": "x", "enhanced": "5\\.7\\.("}, "enhanced"),
    ],
)
def test_malformed_rules_are_refused_with_their_name(raw: dict[str, object], problem: str) -> None:
    entry = {
        "category": "other",
        "who": "sender",
        "en": {"meaning": "m", "action": "a"},
        "it": {"meaning": "m", "action": "a"},
        **raw,
    }
    with pytest.raises(CatalogueError, match=re.escape(problem)):
        _load_patterns({"pattern": [entry]})


# --- the verdict follows --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            Reply(550, ("5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain",)),
            Reason.DOMAIN_UNKNOWN,
        ),
        (Reply(550, ("Requested action not taken: mailbox unavailable",)), Reason.REJECTED),
        (Reply(550, ("mailbox unavailable",)), Reason.REJECTED),
        (Reply(551, ("User not local",)), Reason.REJECTED),
        (Reply(554, ("5.7.1 <a@b.test>: Relay access denied",)), Reason.RELAY_DENIED),
        (
            Reply(452, ("4.1.1 <a@b.test> too many recent messages; Try again later",)),
            Reason.RATE_LIMITED,
        ),
        (Reply(550, ("4.4.7 QUEUE.Expired; message expired",)), Reason.TEMPORARY_FAILURE),
        (
            Reply(451, ("4.4.316 Connection refused [Message=Socket error code 10061]",)),
            Reason.SERVER_UNAVAILABLE,
        ),
    ],
)
def test_rcpt_decisions_read_the_weighed_category(reply: Reply, reason: Reason) -> None:
    assert decide_rcpt(reply, None).reason is reason


async def _probe(handler: MailHandler, address: str) -> ProbeResult:
    return await _probe_host(MailHost("mx1.example.test", "127.0.0.2", handler), address)


async def _probe_host(host: MailHost, address: str) -> ProbeResult:
    """Probe ``address`` in a world whose one MX, mx1.example.test, is ``host``."""
    zone: dict[str, list[RecordSpec]] = {
        "example.test.": [("MX", 10, "mx1.example.test.")],
        "mx1.example.test.": [("A", "127.0.0.2")],
    }
    async with world_of(zone, [host]) as world:
        return await probe_in(world, address)


# Real refusals of real senders at RCPT; each must leave the address unknown, never
# undeliverable: the reply is about the prober's IP, not about the mailbox.
_BLOCKS = [
    ("cisco-poor-reputation", "smtp-validate-email-40.txt"),
    ("spamhaus", "sendgrid-sbl.txt"),
    ("ip-block-words", "sisimai-469.txt"),
    ("gmail-low-reputation", None),
]


def _block_text(folder: str, name: str | None) -> str:
    path = FIXTURES / folder / name if name else sorted((FIXTURES / folder).glob("*.txt"))[0]
    return _reply(path)


@pytest.mark.parametrize(("folder", "name"), _BLOCKS, ids=[f for f, _ in _BLOCKS])
async def test_probe_refused_for_reputation_is_unknown_blocked(
    folder: str, name: str | None
) -> None:
    text = _block_text(folder, name)
    code = int(text[:3])
    lines = [re.sub(r"^\d{3}[ -]", "", line) for line in text.splitlines()]
    reply = "\r\n".join(f"{code}-{line}" for line in lines[:-1]) + (
        "\r\n" if len(lines) > 1 else ""
    )
    reply += f"{code} {lines[-1]}"
    mail = MailHandler(rcpt={"ann@example.test": reply})
    result = await _probe(mail, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.BLOCKED
    assert result.explanation is not None
    assert result.explanation.category in {
        Category.BLOCKED_IP_REPUTATION,
        Category.BLOCKED_SPAM_CONTENT,
    }


async def test_probe_of_a_bare_refusal_is_unknown_not_undeliverable() -> None:
    mail = MailHandler(rcpt={"ann@example.test": "550 mailbox unavailable"})
    result = await _probe(mail, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.REJECTED


async def test_probe_of_a_missing_mailbox_stays_undeliverable() -> None:
    text = _reply(
        FIXTURES
        / "postfix-user-unknown-table"
        / sorted(p.name for p in (FIXTURES / "postfix-user-unknown-table").glob("*.txt"))[0]
    )
    mail = MailHandler(rcpt={"ann@example.test": text})
    result = await _probe(mail, "ann@example.test")
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.MAILBOX_UNKNOWN


def test_a_bounce_naming_mail_from_is_about_the_sender() -> None:
    why = explain_text(_reply(CODES / "exim-mail-from-no-such-domain.txt"))
    assert why.category is Category.OTHER
    assert why.evidence[-1] == "a refusal of MAIL FROM is about the sender → other"


def test_a_vendor_detail_still_speaks_through_its_subject() -> None:
    # 4.4.399 is in no registry and no rule; its subject (X.4, network and routing) is.
    why = explain(None, "", enhanced="4.4.399")
    assert why.category is Category.REMOTE_UNREACHABLE
    assert why.confidence < 0.45
    assert why.evidence == ("enhanced 4.4.399 → remote_unreachable",)


@pytest.mark.parametrize("junk", ["5." * 100_000, "a" * 200_000, " " * 200_000 + "x"])
def test_a_huge_hostile_reply_is_explained_promptly(junk: str) -> None:
    import time

    explain(550, "")  # the catalogue is loaded once, outside the measure
    started = time.perf_counter()
    why = explain(550, junk)
    assert time.perf_counter() - started < 5.0
    assert why.category is Category.OTHER
    assert why.text == junk  # kept whole, even where the rules read only its start


def test_a_failed_lookup_is_not_a_missing_domain() -> None:
    # Postfix's words for a DNS answer that the name does not exist, and for a lookup
    # that could not be completed: only the first is a missing domain.
    missing = explain_text(
        _text("domain-not-found", "sisimai-set-of-emails-dns-host-not-found.txt")
    )
    failed = explain_text(_text("remote-unreachable", "sisimai-set-of-emails-dns-try-again.txt"))
    assert missing.category is Category.DOMAIN_UNKNOWN
    assert failed.category is Category.REMOTE_UNREACHABLE


def test_identifiers_stamped_on_a_reply_do_not_change_its_reading() -> None:
    text = _text(
        "gmail-no-such-user",
        sorted(p.name for p in (FIXTURES / "gmail-no-such-user").glob("*.txt"))[0],
    )
    one = explain_text(f"{text} a1si5234567wrb.12 - gsmtp")
    two = explain_text(f"{text} x9qz7731002abc.40 - gsmtp")
    assert one.category is two.category is Category.MAILBOX_UNKNOWN
    assert one.evidence == two.evidence
    assert one.text.endswith("a1si5234567wrb.12 - gsmtp")  # the server's words, unmasked


def test_permanence_without_a_basic_code_comes_from_the_quoted_code() -> None:
    # qmail's "(#4.1.2)": temporary, although no reply code opens the text.
    why = explain_text(_reply(CODES / "qmail-4.1.2-dns-temporary.txt"))
    assert why.code is None and why.permanent is False


def test_a_sender_that_gave_up_is_final_whatever_it_quotes() -> None:
    # "550 4.4.7 …": the queue expired, so nothing more will be tried.
    why = explain_text(_reply(CODES / "exchange-550-4.4.7-expired.txt"))
    assert why.permanent is True
    delivery = explain_text(_text("delivery-expired", "flanker-bounce-fixtures-0.txt"))
    assert delivery.category is Category.DELIVERY_EXPIRED and delivery.permanent is True


async def test_probe_refused_by_a_local_rule_under_5_1_1_is_unknown() -> None:
    # A Czech host's help page quotes "550 5.1.1 <…> sender is blacklisted"
    # (fixtures/corpus/czech-polish-provider-help.toml): the words name the receiver's
    # own list of senders, so the X.1.1 beside them does not prove the mailbox missing.
    mail = MailHandler(
        rcpt={"ann@example.test": "550 5.1.1 <ann@example.test> sender is blacklisted"}
    )
    result = await _probe(mail, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.reason is Reason.REJECTED
    assert result.explanation is not None
    assert result.explanation.category is Category.OTHER


async def test_probe_refused_at_the_greeting_is_blocked_not_a_missing_domain() -> None:
    # RFC 5321 §4.2.3 gives "No SMTP service here" as 554's text when it opens the
    # connection: the server refuses this client before any address is named, so the
    # words say nothing about the recipient's domain.
    host = MailHost("mx1.example.test", "127.0.0.2", script=banner_then("554 No SMTP service here"))
    result = await _probe_host(host, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.explanation is not None
    assert result.explanation.category is Category.BLOCKED_IP_REPUTATION
    # Given as "connect", the stage a pasted greeting is most often filed under, too.
    pasted = explain_text("554 No SMTP service here", stage=Stage.CONNECT)
    assert pasted.category is Category.BLOCKED_IP_REPUTATION
    # A host that takes no mail at all still says so with 521 (RFC 7504).
    assert explain_text("521 Service does not accept mail", stage=Stage.BANNER).category is (
        Category.DOMAIN_UNKNOWN
    )


def test_503_at_data_is_a_bad_sequence() -> None:
    # RFC 5321 §4.2.3: 503 is a bad sequence of commands; at DATA it says no recipient
    # was accepted before it (greenmail's "503 RCPT command(s) required", in
    # fixtures/corpus/greenmail-test-server-source.toml).
    why = explain_text("503 RCPT command(s) required", stage=Stage.DATA)
    assert why.category is Category.SYNTAX_ERROR
    assert "no recipient had been accepted" in why.meaning  # the stage's own meaning


def test_a_syntax_error_in_the_content_is_about_the_message() -> None:
    # Exchange's X.400 wording (fixtures/corpus/microsoft-kb-archive-articles.toml,
    # Q222641): a fault in the message's format, which is a local rule about the message,
    # not a malformed SMTP command.
    why = explain_text("A syntax error was detected in the content of the message")
    assert why.category is not Category.SYNTAX_ERROR
    assert explain_text("501 Syntax error in parameters").category is Category.SYNTAX_ERROR


async def test_probe_refused_at_the_greeting_from_you_is_not_a_host_without_mail() -> None:
    # Nmap's service probes (fixtures/corpus/nmap-service-probes.toml) hold a server
    # that greets with "521 Host does not accept mail from you": RFC 7504's code, but
    # the words refuse this client, not every sender.
    text = "521 Host does not accept mail from you, closing transmission channel..."
    host = MailHost("mx1.example.test", "127.0.0.2", script=banner_then(text))
    result = await _probe_host(host, "ann@example.test")
    assert result.verdict is Verdict.UNKNOWN
    assert result.explanation is not None
    assert result.explanation.category is Category.BLOCKED_IP_REPUTATION


async def test_probe_forwarded_with_a_moved_mailbox_detail_is_deliverable() -> None:
    # unMta's default reply for a forwarded recipient (fixtures/corpus/unmta-smtp-server-
    # source.toml): RFC 5321's 251 with X.1.6, the registry's "mailbox has moved". The
    # detail says where the mailbox went; the server took the mail.
    why = explain_text("251 2.1.6 User not local; will forward", stage=Stage.RCPT)
    assert why.category is Category.ACCEPTED
    mail = MailHandler(rcpt={"ann@example.test": "251 2.1.6 User not local; will forward"})
    result = await _probe(mail, "ann@example.test")
    assert result.verdict is Verdict.DELIVERABLE
