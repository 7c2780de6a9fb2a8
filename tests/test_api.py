"""The public API: explicit, complete, typed."""

from __future__ import annotations

import prober
from prober.engine.verdict import Reason, Verdict
from prober.output.render import paint, result_text
from prober.results import ProbeResult


def test_all_is_sorted_and_complete() -> None:
    assert list(prober.__all__) == sorted(prober.__all__)
    public = {n for n in dir(prober) if not n.startswith("_") and n[0].isupper()}
    # every public class reachable from the package is listed
    assert public <= set(prober.__all__)
    for name in prober.__all__:
        assert hasattr(prober, name), name


def test_probe_sync_refuses_bad_input_without_network() -> None:
    result = prober.probe_sync("no-at-sign")
    assert result.verdict is Verdict.UNDELIVERABLE
    assert result.reason is Reason.SYNTAX
    assert result.error == "The address has no '@': it needs a local part and a domain."


def _syntax_result() -> ProbeResult:
    return prober.probe_sync("a@b@c")


def test_colour_only_when_asked() -> None:
    result = _syntax_result()
    assert "\x1b[" not in result_text(result, colour=False)
    coloured = result_text(result, colour=True)
    assert paint("UNDELIVERABLE", "red", True) in coloured
