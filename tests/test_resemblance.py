"""Resemblance, the last reading of a failure no rule placed (``explanation/resemblance.py``).

The packaged model is data fitted on the corpus; these tests check that it is the model
of the corpus as it is, that it reads as a hedged guess, and where it may not speak at
all. A small model written out by hand drives the rules of when it speaks, so that each
case is decided by its weights and not by what the packaged fit happens to give.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from prober import Verdict
from prober.explanation.catalogue import Catalogue, Category, Stage, load
from prober.explanation.explain import explain, explain_text
from prober.explanation.resemblance import (
    MODEL,
    Resemblance,
    decode,
    encode,
    features,
    load_resemblance,
    normalise,
)
from prober.testing.world import MailHandler, MailHost
from tests.test_evidence import _probe_host

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from fit_resemblance import corpus_digest, load_texts  # noqa: E402

CORPUS = ROOT / "fixtures" / "corpus"


def test_the_packaged_model_was_fitted_on_the_corpus_as_it_is() -> None:
    model = load_resemblance()
    assert model is not None
    assert model.corpus == corpus_digest(CORPUS), (
        "fixtures/corpus changed since the model was fitted: run "
        "`pip install -e '.[fit]'; python scripts/fit_resemblance.py`"
    )
    assert model.texts == len(load_texts(CORPUS))
    assert set(model.categories) <= {str(c) for c in Category} | {
        "delivery_expired",
        "remote_unreachable",
    }


def test_the_model_file_is_read_and_written_back_byte_for_byte() -> None:
    raw = resources.files("prober").joinpath("data").joinpath(MODEL).read_bytes()
    model = decode(raw)
    assert encode(model) == raw
    assert len(model.weights) == len(model.rows) * len(model.categories)


def test_what_differs_between_replies_is_one_token_each() -> None:
    one = "550 5.7.1 <ann@example.com>: rejected from 192.0.2.7, queue id 4XyZ12abcDEF34"
    two = "550 5.7.1 <bob@example.org>: rejected from 198.51.100.9, queue id 9QwE98rtyUIO76"
    assert features(one) == features(two)
    assert normalise(one).split()[:3] == ["cffa", "efh", "efhxb"]  # 550, 5.7, 5.7.1
    # A placeholder of a program's message is a token too: "%s" and "{0}" read alike.
    assert features("Could not send: %s") == features("Could not send: {0}")


# --- the packaged model on real texts ---------------------------------------------------------


def _corpus_text(source: str, starts: str) -> dict[str, object]:
    with (CORPUS / f"{source}.toml").open("rb") as handle:
        replies = tomllib.load(handle)["reply"]
    found = [r for r in replies if str(r["text"]).startswith(starts)]
    assert len(found) == 1, f"{source}: no single text starting {starts!r}"
    return found[0]


# Mail programs' own words that no rule reads (fixtures/corpus, their sources there):
READ_BY_RESEMBLANCE = [
    ("evolution-data-server-smtp-code-texts", "È necessario passare attraverso la verifica"),
    ("mutt-smtp-client-messages", "Impossibile negoziare la connessione TLS"),
    ("kde-ksmtp-kmail-send-errors", "Connessione al server interrotta."),
]


@pytest.mark.parametrize(("source", "starts"), READ_BY_RESEMBLANCE)
def test_words_no_rule_knows_are_read_by_what_they_resemble(source: str, starts: str) -> None:
    reply = _corpus_text(source, starts)
    without = dataclasses.replace(load(), resemblance=lambda: None)
    text = str(reply["text"])
    assert str(explain(None, text, catalogue=without).category) == "other"
    why = explain_text(text)
    assert str(why.category) == reply["category"]
    assert why.rule == f"resembles:{why.category}"
    assert why.confidence < 0.45  # always "low"
    assert why.meaning.startswith("A guess from the wording alone")
    assert why.evidence[0].startswith("no rule settles it; its wording is closest to")
    assert why.evidence[0].endswith(f"→ {why.category}")
    italian = explain_text(text, lang="it")
    assert italian.category is why.category
    assert italian.meaning.startswith("Un’ipotesi basata solo sulla formulazione")
    assert italian.evidence[0].startswith("nessuna regola lo decide")


@pytest.mark.parametrize(
    "garbage",
    [
        "lorem ipsum dolor sit amet",
        "the quick brown fox jumps over the lazy dog",
        "Dear John, the meeting is moved to Friday at noon.",
    ],
)
def test_words_that_are_no_mail_reply_get_no_guess(garbage: str) -> None:
    why = explain_text(garbage)
    assert why.category is Category.OTHER
    assert why.rule == "none"
    assert not why.known


async def test_a_probe_refused_in_words_only_resemblance_reads_is_not_undeliverable() -> None:
    # Real: the EnemiesList Sendmail rulesets (fixtures/corpus/enemieslist-sendmail-m4-
    # rulesets.toml) refuse mail relayed through a kind of proxy like this at RCPT; no
    # rule places the words, and the codes say nothing specific.
    reply = (
        "550 CACHFLO Contact $&{ELContactEmail} if this is in error, but we do not accept "
        "mail sent via CacheFlow Servers."
    )
    mail = MailHandler(rcpt={"ann@example.test": reply})
    result = await _probe_host(MailHost("mx1.example.test", "127.0.0.2", mail), "ann@example.test")
    assert result.explanation is not None
    assert result.explanation.rule == "resembles:blocked_ip_reputation"
    assert result.verdict is Verdict.UNKNOWN


def test_probe_explain_shows_the_guess_and_says_why(tmp_path: Path) -> None:
    text = "È necessario passare attraverso la verifica della password"
    run = subprocess.run(
        [sys.executable, "-m", "prober", "--lang", "it", "explain", text],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Un’ipotesi basata solo sulla formulazione" in run.stdout
    assert "nessuna regola lo decide" in run.stdout
    assert "[auth_required]" in run.stdout


# --- when it may speak, driven by a model written out by hand ---------------------------------


def _model(category: str, probability: float, words: str = "zorblat") -> Resemblance:
    """A model that reads ``words`` as ``category`` with ``probability`` (from 0.25; exact
    when no n-gram of ``words`` repeats) and the rest spread evenly over three rivals, and
    knows no other words."""
    grams = sorted(features(words))
    rivals = [c for c in ("other", "greylisted", "syntax_error", "rate_limited") if c != category]
    rivals = rivals[:3]
    # Softmax of (0, -x, -x, -x): the first gets 1 / (1 + 3e^-x).
    margin = math.log(3 / (1 / probability - 1))
    # Each n-gram's value is 1 / sqrt(len(grams)) once normalised: spread the margin.
    scale = 1 / 10000
    step = round(-margin / len(grams) ** 0.5 / scale)
    weights = []
    for _ in grams:
        weights += [0, step, step, step]
    return Resemblance(
        categories=(category, *rivals),
        intercepts=(0.0, 0.0, 0.0, 0.0),
        rows={g: i for i, g in enumerate(grams)},
        idf=[1.0] * len(grams),
        weights=weights,
        scale=scale,
        corpus="",
        texts=0,
        words=frozenset(words.split()),
    )


def _with(model: Resemblance | None) -> Catalogue:
    return dataclasses.replace(load(), resemblance=lambda: model)


def test_it_reads_a_failure_the_codes_say_nothing_specific_about() -> None:
    why = explain(550, "zorblat", stage=Stage.RCPT, catalogue=_with(_model("rate_limited", 0.9)))
    assert why.category is Category.RATE_LIMITED
    assert why.rule == "resembles:rate_limited"
    assert why.permanent is True  # still the code's: a 5xx
    assert any("(outweighed)" in e or "says nothing" in e for e in why.evidence[1:])


def test_it_never_says_the_address_is_bad() -> None:
    for category in ("mailbox_unknown", "mailbox_disabled", "domain_unknown"):
        why = explain(550, "zorblat", stage=Stage.RCPT, catalogue=_with(_model(category, 0.95)))
        assert why.category is Category.OTHER, category
        assert not why.rule.startswith("resembles")


def test_it_stays_quiet_on_successes_and_on_codes_read_at_their_stage() -> None:
    cat = _with(_model("rate_limited", 0.95))
    assert explain(250, "zorblat", catalogue=cat).category is Category.ACCEPTED
    # 432 in answer to AUTH is a password transition (RFC 4954): the stage says so.
    assert explain(432, "zorblat", stage=Stage.AUTH, catalogue=cat).category is (
        Category.AUTH_REQUIRED
    )


def test_it_stays_quiet_where_a_rule_s_words_found_the_reading() -> None:
    text = "5.7.1 must match authenticated user"
    model = _model("rate_limited", 0.95, "must match authenticated user")
    assert model.closest(text)[0] == "rate_limited"  # type: ignore[index]
    cat = _with(model)
    # A rule's words that say "other" are a finding: mox's sender that is not the login
    # (fixtures/corpus/mox-source.toml) is a local rule, whatever it resembles.
    without = explain(550, text, enhanced="5.7.1", stage=Stage.MAIL, catalogue=_with(None))
    assert without.category is Category.OTHER
    assert without.rule.split(":")[0] in ("pattern", "words")
    assert explain(550, text, enhanced="5.7.1", stage=Stage.MAIL, catalogue=cat) == without
    # And a sure reading is never touched.
    sure = explain(
        550, "5.1.1 must match authenticated user unknown", enhanced="5.1.1", catalogue=cat
    )
    assert sure.category is Category.MAILBOX_UNKNOWN


def test_against_the_codes_it_needs_more_than_against_nothing() -> None:
    # 0.38: enough where only the digits spoke, not against a reply code's reading.
    weak = _with(_model("rate_limited", 0.38))
    assert weak.resemblance().closest("zorblat")[0] == "rate_limited"  # type: ignore[union-attr,index]
    assert explain(550, "zorblat", stage=Stage.RCPT, catalogue=weak).category is Category.OTHER
    assert explain(None, "zorblat", catalogue=weak).category is Category.RATE_LIMITED
    assert explain(None, "zorblat", catalogue=_with(_model("rate_limited", 0.28))).category is (
        Category.OTHER
    )
    strong = _with(_model("rate_limited", 0.55))
    assert explain(550, "zorblat", stage=Stage.RCPT, catalogue=strong).category is (
        Category.RATE_LIMITED
    )


def test_without_a_code_most_words_must_be_words_the_corpus_uses() -> None:
    cat = _with(_model("rate_limited", 0.95))
    assert explain(None, "zorblat", catalogue=cat).category is Category.RATE_LIMITED
    # One known word in four: not enough to compare with anything.
    assert explain(None, "zorblat quixotic vellum marzipan", catalogue=cat).category is (
        Category.OTHER
    )
    # With a code the words need not be known: the code says it is a reply.
    assert explain(550, "zorblat quixotic vellum marzipan", catalogue=cat).category is (
        Category.RATE_LIMITED
    )
