"""A result in the other language: every explanation asked again in ``lang`` (pure).

A probe is run once, in the server's language; a client asking in another gets the same
transcript with each reply, event and summary explained in its own. Replies and events
are kept in the result, so nothing needs to be probed twice.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prober.address import parse_address
from prober.engine.plan import syntax_explanation
from prober.engine.verdict import Reason, summary
from prober.errors import AddressError
from prober.explanation.explain import Explanation, explain, explain_event, explain_reply
from prober.output.messages import translated
from prober.results import ProbeResult, Step


def _refusal(address: str) -> str | None:
    """Why ``address`` is refused before any connection, in English (None if it is not)."""
    try:
        parse_address(address)
    except AddressError as exc:
        return exc.reason
    return None


def _again(why: Explanation, lang: str) -> Explanation:
    """An explanation asked again from what it carries (no stage: used when no step has it)."""
    if why.rule.startswith("event:"):
        return explain_event(why.rule.removeprefix("event:"), why.text, lang)
    return explain(why.code, why.text, enhanced=why.enhanced_code, lang=lang)


def step_in_language(step: Step, lang: str) -> Step:
    """``step`` with its explanation in ``lang``."""
    if step.reply is not None:
        why = explain_reply(step.reply, step.stage, lang)
    elif step.event is not None:
        why = explain_event(step.event, step.explanation.text, lang)
    else:
        why = explain(
            step.explanation.code,
            step.explanation.text,
            enhanced=step.explanation.enhanced_code,
            stage=step.stage,
            lang=lang,
        )
    return replace(step, explanation=why)


def in_language(result: ProbeResult, lang: str) -> ProbeResult:
    """``result`` with every explanation and the summary in ``lang``."""
    pairs: list[tuple[Explanation, Explanation]] = []
    attempts = []
    for attempt in result.attempts:
        steps = []
        for step in attempt.steps:
            again = step_in_language(step, lang)
            pairs.append((step.explanation, again.explanation))
            steps.append(again)
        attempts.append(replace(attempt, steps=tuple(steps)))
    deciding = result.explanation
    if deciding is not None:
        same = next((new for old, new in pairs if old == deciding), None)
        deciding = same if same is not None else _again(deciding, lang)
    text = summary(result.reason, lang, result.retry_after)
    error = result.error
    if result.reason is Reason.SYNTAX and error:
        # The refusal is worded from the address itself, whatever language it was in.
        english = _refusal(result.address) or error
        error = translated(english, lang)
        deciding = syntax_explanation(english, lang)
        text = f"{text} {error}"
    return replace(
        result, attempts=tuple(attempts), explanation=deciding, summary=text, error=error
    )


LANGS = ("en", "it")


def in_every_language(result: ProbeResult) -> dict[str, dict[str, Any]]:
    """``{lang: result object}`` for every language prober speaks (what the cache keeps)."""
    own = result.explanation.lang if result.explanation is not None else LANGS[0]
    return {
        lang: (result if lang == own else in_language(result, lang)).to_dict() for lang in LANGS
    }
