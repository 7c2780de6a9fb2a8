"""Protocol-level replies: what the stage and the code's class say when the words are
about TLS, authentication or a domain.

Each case is a real reply of the corpus (``fixtures/corpus``), looked up by its words,
read at the stage the corpus gives it, and compared with its label.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

import prober
from prober.explanation.catalogue import Stage

CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"


def _reply(source: str, text: str) -> dict[str, Any]:
    with (CORPUS / f"{source}.toml").open("rb") as handle:
        replies = tomllib.load(handle)["reply"]
    found = [r for r in replies if r["text"] == text]
    assert len(found) == 1, f"{source}: no single reply {text!r}"
    return found[0]


def _read(reply: dict[str, Any], stage: Stage | None = None) -> str:
    given = reply.get("stage")
    if stage is None and given not in (None, "unknown"):
        stage = Stage(given)
    return str(prober.explain_text(reply["text"], stage=stage).category)


# (source, text, category): the corpus label, which the classifier must give.
CASES = [
    # The server has no TLS to offer: a protocol matter for a 5xx, its trouble for a 4xx.
    ("mox-source", "503 5.5.1 starttls not offered", "syntax_error"),
    ("sendmail-source", "503 5.5.0 TLS not available", "syntax_error"),
    ("go-smtp-source", "502 5.5.1 TLS not supported", "syntax_error"),
    ("sendmail-source", "454 4.3.3 TLS not available right now", "server_unavailable"),
    ("courier-mta-source", "440 TLS not available.", "server_unavailable"),
    # A demand for TLS stays one.
    ("courier-mta-source", "400 STARTTLS is required first.", "tls_required"),
    ("go-smtp-source", "523 5.7.10 TLS is required", "tls_required"),
    # A parameter the server does not implement, whatever its name speaks of.
    ("go-smtp-source", "504 5.5.4 REQUIRETLS is not implemented", "syntax_error"),
    (
        "sendmail-source",
        "504 5.7.0 Sorry, NOTIFY not supported, we do not allow DSN",
        "syntax_error",
    ),
    ("go-smtp-source", "500 5.5.4 Unknown RCPT TO argument", "syntax_error"),
    # 502 and 504 are protocol codes by their class.
    ("courier-mta-source", "502 Polite people say HELO first", "syntax_error"),
    ("go-smtp-source", "502 5.7.0 Authentication not supported", "syntax_error"),
    # At EHLO the domain is the client's own name; at MAIL FROM it is the sender's.
    ("sendmail-source", "501 Invalid domain name", "syntax_error"),
    (
        "courier-mta-source",
        "517 Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>",
        "other",
    ),
    ("mail-filter-daemons-source", "Domain published RFC 7505 Null MX", "other"),
    # The order of the dialogue, in the words of servers of other makes.
    ("qpsmtpd-source", "503 Use MAIL before RCPT", "syntax_error"),
    ("twisted-mail-source", "503 Must have sender before recipient", "syntax_error"),
    ("twisted-mail-source", "503 TLS already negotiated", "syntax_error"),
    # RFC 5321's own texts for 552 and 553.
    (
        "midi-smtp-server-source",
        "552 Requested mail action aborted: exceeded storage allocation",
        "mailbox_full",
    ),
    (
        "midi-smtp-server-source",
        "553 Requested action not taken: mailbox name not allowed",
        "syntax_error",
    ),
    # 521 at the greeting: the host takes no mail for anyone.
    ("midi-smtp-server-source", "521 Service does not accept mail", "domain_unknown"),
    # Refused because of the connecting client.
    ("qpsmtpd-source", "550 Connection from you denied, bye bye.", "blocked_ip_reputation"),
    # A temporary failure to check a login is the server's, not wrong credentials.
    ("sendmail-source", "454 4.5.4 Temporary authentication failure", "server_unavailable"),
    # A command the server has switched off is one it does not offer.
    ("postfix-source", "502 5.5.1 VRFY command is disabled", "syntax_error"),
    ("subethasmtp-source", "502 EXPN command is disabled", "syntax_error"),
    # A login mechanism the server does not offer (RFC 4954: 504), in any make's words.
    ("mhale-smtpd-source", "504 5.5.4 Unrecognized authentication type", "syntax_error"),
    (
        "nodemailer-smtp-server-source",
        "504 Error: Unrecognized authentication type",
        "syntax_error",
    ),
    ("go-smtp-source", "504 5.7.4 Unsupported authentication mechanism", "syntax_error"),
    # Data that is not base64 is the client's error, whatever the temporary code.
    ("go-smtp-source", "454 4.7.0 Invalid base64 data", "syntax_error"),
    # 432 away from AUTH is a temporary failure of the server, not a password transition.
    ("courier-mta-source", "432 libmail_streampipe() failed.", "server_unavailable"),
    ("midi-smtp-server-source", "432 Password transition is needed", "auth_required"),
    # A message denied with no reason given is the server's local decision.
    ("qpsmtpd-source", "552 Message denied", "other"),
    ("qpsmtpd-source", "451 Message denied temporarily", "other"),
]


@pytest.mark.parametrize(("source", "text", "category"), CASES)
def test_protocol_reply_reads_as_labelled(source: str, text: str, category: str) -> None:
    reply = _reply(source, text)
    assert reply["category"] == category, "the case disagrees with the corpus label"
    assert _read(reply) == category


def test_before_mail_from_no_reply_is_about_an_address() -> None:
    reply = _reply(
        "github-issue-threads",
        "450 4.1.2 <b8grvq@ubsonline.com>: Recipient address rejected: Domain not found",
    )
    # After RCPT TO these words speak of the recipient's domain; before MAIL FROM not.
    assert _read(reply, Stage.RCPT) == "domain_unknown"
    for stage in (Stage.EHLO, Stage.HELO, Stage.STARTTLS, Stage.AUTH):
        assert _read(reply, stage) not in {"domain_unknown", "mailbox_unknown"}


def test_an_unlisted_code_at_mail_from_speaks_of_the_sender() -> None:
    reply = _reply(
        "courier-mta-source",
        "517 Invalid domain, see <URL:https://datatracker.ietf.org/doc/html/rfc1035>",
    )
    assert _read(reply, Stage.RCPT) == "domain_unknown"
    why = prober.explain_text(reply["text"], stage=Stage.MAIL)
    assert str(why.category) == "other"
    assert why.permanent is True


def test_432_is_a_password_transition_only_in_answer_to_auth() -> None:
    reply = _reply("courier-mta-source", "432 libmail_streampipe() failed.")
    assert _read(reply, Stage.AUTH) == "auth_required"
    assert _read(reply, Stage.DATA) == "server_unavailable"
