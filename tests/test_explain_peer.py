"""The peer comparison's reading of Sisimai's reasons (``benchmarks/explain_peer.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from explain_peer import ABSTAIN, SISIMAI_READS, _reads  # noqa: E402

from prober.explanation.catalogue import Category  # noqa: E402


def test_every_reason_stands_for_real_categories() -> None:
    known = {str(c) for c in Category}
    for reason, categories in SISIMAI_READS.items():
        assert categories, reason
        assert categories <= known, (reason, categories - known)


def test_an_abstention_or_an_unknown_reason_reads_as_other() -> None:
    for reason in (*ABSTAIN, "a-reason-sisimai-added-later"):
        assert _reads(reason) == frozenset({"other"})
    assert _reads("userunknown") == frozenset({"mailbox_unknown"})
