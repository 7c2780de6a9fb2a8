"""prober's reading of reply texts against Sisimai's, on the same texts.

Sisimai is a long-standing bounce classifier (Perl and Ruby). Its ``Sisimai::Reason``
module reads a diagnostic text and names a bounce reason. This script gives both
readers the same texts, a corpus directory of ``[[reply]]`` files
(``fixtures/corpus`` by default, or a directory holding one round of new sources), and
prints for each: how many texts get the right category, how many are *harmful* (a
refusal of the sender read as a missing mailbox or domain), how often the reader
abstains, and how right it is where it does decide.

Sisimai's reasons are not prober's categories, so each reason stands for a *set* of
categories, and a text counts as right for Sisimai when its label is in the set
(``SISIMAI_READS`` below, written from the descriptions in Sisimai's reason modules). A
reason with no counterpart (``undefined``, ``onhold``, ``vacation``, ``feedback``)
counts as an abstention and as ``other``. Where the sets are wide the comparison
favours Sisimai; prober is held to its one category.

The figures compare the two readers fairly only on texts neither was written from: on
``fixtures/corpus`` prober's vocabulary was written from these very texts (see
``explain_accuracy.py`` for its leave-one-source-out figures); on a new round's
directory, scored before any change, both read unseen text.

    apt-get install libsisimai-perl   # Debian's Sisimai, for Perl
    python benchmarks/explain_peer.py [--corpus DIR] [--json-out figures.json]

Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from explain_accuracy import (  # noqa: E402 (a sibling script, not a package)
    CORPUS,
    HARMFUL_PREDICTED,
    HARMFUL_TRUE,
    Sample,
    harmful,
    load_corpus,
    packaged_classifier,
    run,
    score,
)

# Sisimai's reason -> the prober categories it can stand for.
SISIMAI_READS: dict[str, frozenset[str]] = {
    "authfailure": frozenset({"policy_spf_dkim_dmarc"}),
    "badreputation": frozenset({"blocked_ip_reputation"}),
    "blocked": frozenset({"blocked_ip_reputation"}),
    "contenterror": frozenset({"other", "blocked_spam_content"}),
    "delivered": frozenset({"accepted"}),
    "exceedlimit": frozenset({"message_too_large", "mailbox_full"}),
    "expired": frozenset({"delivery_expired"}),
    "failedstarttls": frozenset({"tls_required"}),
    "filtered": frozenset({"mailbox_unknown", "other"}),
    "hasmoved": frozenset({"mailbox_disabled", "mailbox_unknown"}),
    "hostunknown": frozenset({"domain_unknown"}),
    "mailboxfull": frozenset({"mailbox_full"}),
    "mailererror": frozenset({"server_unavailable", "other"}),
    "mesgtoobig": frozenset({"message_too_large"}),
    "networkerror": frozenset({"remote_unreachable", "server_unavailable"}),
    "norelaying": frozenset({"relay_denied"}),
    "notaccept": frozenset({"domain_unknown", "server_unavailable"}),
    "notcompliantrfc": frozenset({"other"}),
    "policyviolation": frozenset({"other", "policy_spf_dkim_dmarc"}),
    "rejected": frozenset({"other"}),
    "requireptr": frozenset({"blocked_ip_reputation"}),
    "securityerror": frozenset({"auth_required", "tls_required", "policy_spf_dkim_dmarc"}),
    "spamdetected": frozenset({"blocked_spam_content"}),
    "speeding": frozenset({"rate_limited"}),
    "suspend": frozenset({"mailbox_disabled"}),
    "syntaxerror": frozenset({"syntax_error"}),
    "systemerror": frozenset({"server_unavailable"}),
    "systemfull": frozenset({"server_unavailable"}),
    "toomanyconn": frozenset({"rate_limited"}),
    "userunknown": frozenset({"mailbox_unknown"}),
    "virusdetected": frozenset({"blocked_spam_content"}),
}
ABSTAIN = frozenset({"", "undefined", "onhold", "vacation", "feedback"})
OTHER = frozenset({"other"})

# One text per line in, as JSON; one reason per line out. Whitespace is folded, as
# Sisimai folds it in a Diagnostic-Code field.
_PERL = r"""
use strict; use warnings; use JSON::PP; use Sisimai::Reason;
my $json = JSON::PP->new->utf8->allow_nonref;
$| = 1;
while (my $line = <STDIN>) {
    my $text = $json->decode($line);
    $text =~ s/\s+/ /g;
    my $reason = Sisimai::Reason->match($text);
    print((defined $reason ? $reason : ''), "\n");
}
"""


class PeerMissing(Exception):
    """Sisimai cannot be run here."""


def sisimai_reasons(texts: Sequence[str]) -> list[str]:
    """Sisimai's reason for each text (``""`` where it names none)."""
    feed = "".join(json.dumps(text) + "\n" for text in texts)
    try:
        done = subprocess.run(
            ["perl", "-e", _PERL],
            input=feed.encode("utf-8"),
            capture_output=True,
            timeout=600,
            check=False,
        )
    except FileNotFoundError as error:
        raise PeerMissing("perl is not installed") from error
    if done.returncode != 0:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        raise PeerMissing(
            "Sisimai did not run (" + (first[0] if first else f"exit {done.returncode}") + ")"
        )
    reasons = done.stdout.decode("utf-8").split("\n")[: len(texts)]
    if len(reasons) != len(texts):
        raise PeerMissing(f"Sisimai answered {len(reasons)} of {len(texts)} texts")
    return [reason.strip().lower() for reason in reasons]


def sisimai_version() -> str:
    done = subprocess.run(
        ["perl", "-MSisimai", "-e", "print Sisimai->version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def _reads(reason: str) -> frozenset[str]:
    return OTHER if reason in ABSTAIN else SISIMAI_READS.get(reason, OTHER)


def compare(samples: Sequence[Sample], reasons: Sequence[str]) -> dict[str, Any]:
    """Both readers' figures on the same samples."""
    ours = score(samples, packaged_classifier())
    n = len(samples)
    peer_sets = [_reads(reason) for reason in reasons]
    peer_right = [s.truth in read for s, read in zip(samples, peer_sets, strict=True)]
    ours_right = [r.predicted == r.sample.truth for r in ours]
    peer_decides = [reason not in ABSTAIN and reason in SISIMAI_READS for reason in reasons]
    ours_decides = [r.predicted != "other" for r in ours]

    def share(flags: Sequence[bool], among: Sequence[bool] | None = None) -> dict[str, Any]:
        picked = [f for f, keep in zip(flags, among or [True] * n, strict=True) if keep]
        right = sum(picked)
        return {
            "texts": len(picked),
            "right": right,
            "share": right / len(picked) if picked else None,
        }

    harmful_peer = sum(
        s.truth in HARMFUL_TRUE and read <= HARMFUL_PREDICTED
        for s, read in zip(samples, peer_sets, strict=True)
    )
    harmful_ours = len(harmful(ours))
    both = [p and o for p, o in zip(peer_decides, ours_decides, strict=True)]
    categories = sorted({s.truth for s in samples})
    recall = {
        label: {
            "support": sum(s.truth == label for s in samples),
            "prober": sum(r.predicted == label == r.sample.truth for r in ours),
            "sisimai": sum(
                s.truth == label and label in read
                for s, read in zip(samples, peer_sets, strict=True)
            ),
        }
        for label in categories
    }
    return {
        "texts": n,
        "sources": len({s.source for s in samples}),
        "prober": {
            "all": share(ours_right),
            "harmful": harmful_ours,
            "abstains": n - sum(ours_decides),
            "where_it_decides": share(ours_right, ours_decides),
            "where_both_decide": share(ours_right, both),
        },
        "sisimai": {
            "version": sisimai_version(),
            "all": share(peer_right),
            "harmful": harmful_peer,
            "abstains": n - sum(peer_decides),
            "where_it_decides": share(peer_right, peer_decides),
            "where_both_decide": share(peer_right, both),
        },
        "recall": recall,
    }


def _pct(part: dict[str, Any]) -> str:
    if part["share"] is None:
        return "n/a"
    return f"{part['right']}/{part['texts']} = {part['share']:.1%}"


def report(figures: dict[str, Any], corpus: Path) -> str:
    ours, peer = figures["prober"], figures["sisimai"]
    lines = [
        f"{figures['texts']} reply texts from {figures['sources']} sources ({corpus})",
        "",
        f"{'':26}{'prober':>24}{'Sisimai ' + peer['version']:>26}",
    ]
    for label, key in (
        ("right category", "all"),
        ("where it decides", "where_it_decides"),
        ("where both decide", "where_both_decide"),
    ):
        lines.append(f"  {label:<24}{_pct(ours[key]):>24}{_pct(peer[key]):>26}")
    lines.append(f"  {'abstains (other)':<24}{ours['abstains']:>24}{peer['abstains']:>26}")
    lines.append(f"  {'harmful':<24}{ours['harmful']:>24}{peer['harmful']:>26}")
    lines.append("")
    lines.append(f"  {'recall by label':<24}{'support':>8}{'prober':>10}{'Sisimai':>10}")
    for label, row in figures["recall"].items():
        lines.append(f"  {label:<24}{row['support']:>8}{row['prober']:>10}{row['sisimai']:>10}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="directory of corpus files")
    parser.add_argument("--json-out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    samples = load_corpus(args.corpus)
    if not samples:
        print(f"no corpus texts under {args.corpus}", file=sys.stderr)
        return 2
    try:
        reasons = sisimai_reasons([s.text for s in samples])
    except PeerMissing as error:
        print(f"{error}: install Debian's libsisimai-perl to compare", file=sys.stderr)
        return 2
    figures = compare(samples, reasons)
    print(report(figures, args.corpus))
    if args.json_out is not None:
        args.json_out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run(main)
