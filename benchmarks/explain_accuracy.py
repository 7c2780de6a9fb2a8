"""How often ``prober.explain_text`` gives a real reply the right category.

Runs the classifier over the real-reply corpus (``fixtures/corpus/*.toml``: texts taken
verbatim from public bounce corpora, MTA sources, provider documentation and user
reports, each labelled by hand) and prints:

- overall accuracy, per-source accuracy and per-category precision and recall;
- the confusion matrix (rows: the label, columns: what the classifier said);
- leave-one-source-out accuracy: for each source S, the catalogue patterns whose
  ``sources`` list names S and nothing else are switched off, then S is scored. A
  pattern written from one source's texts cannot vouch for itself there. A pattern
  names S when each entry of its ``sources`` is S's id or one of S's ``origins``
  (``github:owner/repo``, ``web:host``, as in the corpus ``[source]`` table). When no
  pattern carries a ``sources`` list, nothing can be switched off and the script says
  so (mode ``no-sources-field``);
- how many corpus texts the repository's own reply fixtures (``fixtures/replies``,
  which the catalogue's patterns were written against) also hold, and the accuracy on
  the others;
- harmful confusions, counted apart and listed text by text: a reply that says the
  sender is blocked, fails a policy, carries bad content, is rate limited, needs TLS,
  expired in a queue or could not reach the remote side, read as a missing mailbox or
  domain. These are the misses that make a user drop a good address.

    python benchmarks/explain_accuracy.py [--show-misses] [--json-out figures.json]

Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import sys
import time
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import prober
from prober.explanation import explain as explain_module
from prober.explanation.catalogue import Stage, load
from prober.smtp.reply import parse_pasted

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "corpus"
SECOND_READING = ROOT / "fixtures" / "second-reading"
REPLY_FIXTURES = ROOT / "fixtures" / "replies"

# True categories whose misreading as a missing mailbox/domain does harm.
HARMFUL_TRUE = frozenset(
    {
        "blocked_ip_reputation",
        "blocked_spam_content",
        "policy_spf_dkim_dmarc",
        "rate_limited",
        "tls_required",
        "delivery_expired",
        "remote_unreachable",
    }
)
HARMFUL_PREDICTED = frozenset({"mailbox_unknown", "mailbox_disabled", "domain_unknown"})

# The field of a [[pattern]] in prober/data/patterns.toml that names the corpus sources
# its phrase was written from; "source" is accepted as a lone string.
SOURCES_FIELDS = ("sources", "source")


@dataclass(frozen=True, slots=True)
class Sample:
    source: str
    index: int
    text: str
    stage: str | None
    truth: str
    provider: str | None
    origins: frozenset[str] = frozenset()
    permanent: bool | None = None


@dataclass(frozen=True, slots=True)
class Scored:
    sample: Sample
    predicted: str
    rule: str
    permanent: bool | None = None


Classify = Callable[[str, Stage | None], tuple[str, str, bool | None]]


def load_corpus(directory: Path) -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        source = str(data["source"]["id"])
        origins = frozenset({source, *map(str, data["source"].get("origins", []))})
        for index, reply in enumerate(data.get("reply", [])):
            stage = reply.get("stage")
            samples.append(
                Sample(
                    source=source,
                    index=index,
                    text=str(reply["text"]),
                    stage=None if stage in (None, "unknown") else str(stage),
                    truth=str(reply["category"]),
                    provider=reply.get("provider"),
                    origins=origins,
                    permanent=reply.get("permanent"),
                )
            )
    return samples


def _stage(value: str | None) -> Stage | None:
    if value is None:
        return None
    try:
        return Stage(value)
    except ValueError:
        return None


def _category(why: Any) -> str:
    return str(getattr(why, "category", "other"))


def _permanence(why: Any) -> bool | None:
    value = getattr(why, "permanent", None)
    return value if isinstance(value, bool) else None


def _rule(why: Any) -> str:
    evidence = getattr(why, "evidence", None)
    if isinstance(evidence, (list, tuple)) and evidence:
        return "; ".join(str(item) for item in evidence)
    return str(getattr(why, "rule", ""))


def packaged_classifier() -> Classify:
    """The classifier as users meet it: ``prober.explain_text`` with the packaged data."""

    def classify(text: str, stage: Stage | None) -> tuple[str, str, bool | None]:
        why = prober.explain_text(text, stage=stage)
        return _category(why), _rule(why), _permanence(why)

    return classify


def catalogue_classifier(
    disabled: frozenset[str], resemblance: Callable[[], Any] | None = None
) -> Classify | None:
    """The same classifier with some patterns switched off and, where given, another
    resemblance model (a function returning it, or None for none), or None if the
    catalogue cannot be rebuilt that way."""
    base = load()
    patterns = getattr(base, "patterns", None)
    if patterns is None or not dataclasses.is_dataclass(base):
        return None
    kept = tuple(p for p in patterns if getattr(p, "id", None) not in disabled)
    catalogue = dataclasses.replace(base, patterns=kept)
    if resemblance is not None:
        catalogue = dataclasses.replace(catalogue, resemblance=resemblance)
    if "catalogue" in inspect.signature(prober.explain_text).parameters:

        def via_text(text: str, stage: Stage | None) -> tuple[str, str, bool | None]:
            why = prober.explain_text(text, stage=stage, catalogue=catalogue)  # type: ignore[call-arg]
            return _category(why), _rule(why), _permanence(why)

        return via_text
    if "catalogue" not in inspect.signature(explain_module.explain).parameters:
        return None

    def via_parts(text: str, stage: Stage | None) -> tuple[str, str, bool | None]:
        parsed = parse_pasted(text)
        why = explain_module.explain(
            parsed.code, parsed.text, enhanced=parsed.enhanced, stage=stage, catalogue=catalogue
        )
        return _category(why), _rule(why), _permanence(why)

    return via_parts


def pattern_sources() -> tuple[str, dict[str, tuple[str, ...]]]:
    """Each pattern id with the corpus sources it names, and which field named them."""
    raw = resources.files("prober").joinpath("data").joinpath("patterns.toml")
    data = tomllib.loads(raw.read_text(encoding="utf-8"))
    named: dict[str, tuple[str, ...]] = {}
    field_used = ""
    for pattern in data.get("pattern", []):
        for field in SOURCES_FIELDS:
            value = pattern.get(field)
            if value is None:
                continue
            values = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            named[str(pattern.get("id", ""))] = values
            field_used = field_used or field
            break
    return field_used, named


def score(samples: Iterable[Sample], classify: Classify) -> list[Scored]:
    results: list[Scored] = []
    for sample in samples:
        predicted, rule, permanent = classify(sample.text, _stage(sample.stage))
        results.append(Scored(sample, predicted, rule, permanent))
    return results


def accuracy(results: Sequence[Scored]) -> float:
    if not results:
        return 0.0
    return sum(r.predicted == r.sample.truth for r in results) / len(results)


def per_category(results: Sequence[Scored]) -> dict[str, dict[str, float | int]]:
    labels = sorted({r.sample.truth for r in results} | {r.predicted for r in results})
    table: dict[str, dict[str, float | int]] = {}
    for label in labels:
        tp = sum(r.sample.truth == label and r.predicted == label for r in results)
        support = sum(r.sample.truth == label for r in results)
        said = sum(r.predicted == label for r in results)
        table[label] = {
            "support": support,
            "predicted": said,
            "precision": tp / said if said else 0.0,
            "recall": tp / support if support else 0.0,
        }
    return table


def confusion(results: Sequence[Scored]) -> dict[str, dict[str, int]]:
    matrix: dict[str, Counter[str]] = defaultdict(Counter)
    for r in results:
        matrix[r.sample.truth][r.predicted] += 1
    return {truth: dict(row) for truth, row in sorted(matrix.items())}


def permanence(results: Sequence[Scored]) -> tuple[int, int]:
    """How many texts with a known permanence the explanation gets right, of how many."""
    known = [r for r in results if r.sample.permanent is not None]
    return sum(r.permanent == r.sample.permanent for r in known), len(known)


def harmful(results: Sequence[Scored]) -> list[Scored]:
    return [
        r for r in results if r.sample.truth in HARMFUL_TRUE and r.predicted in HARMFUL_PREDICTED
    ]


def leave_one_source_out(
    samples: Sequence[Scored],
    sources: dict[str, tuple[str, ...]],
    *,
    strict: bool = False,
    held_out: Callable[[str], Callable[[], Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Each source scored with the rules written from it switched off: those naming it
    alone, or (``strict``) every rule naming it at all; and, with ``held_out`` (source ->
    a function returning a resemblance model fitted without it), with a resemblance
    model that never saw it."""
    by_source: dict[str, list[Scored]] = defaultdict(list)
    for r in samples:
        by_source[r.sample.source].append(r)
    out: dict[str, dict[str, Any]] = {}
    for source, results in sorted(by_source.items()):
        origins = results[0].sample.origins or frozenset({source})
        disabled = frozenset(
            pid
            for pid, named in sources.items()
            if named and (set(named) & origins if strict else set(named) <= origins)
        )
        if not disabled and held_out is None:
            rescored = list(results)
        else:
            classify = catalogue_classifier(
                disabled, held_out(source) if held_out is not None else None
            )
            if classify is None:
                out[source] = {
                    "texts": len(results),
                    "disabled": sorted(disabled),
                    "accuracy": None,
                    "harmful": None,
                }
                continue
            rescored = score((r.sample for r in results), classify)
        out[source] = {
            "texts": len(rescored),
            "disabled": sorted(disabled),
            "accuracy": accuracy(rescored),
            "harmful": len(harmful(rescored)),
            "correct": sum(r.predicted == r.sample.truth for r in rescored),
        }
    return out


def held_out_models(
    samples: Sequence[Sample], folds: int
) -> Callable[[str], Callable[[], Any]] | None:
    """Resemblance models that never saw a source: the sources are dealt into ``folds``
    groups by a hash of their id, and one model is fitted without each group
    (``scripts/fit_resemblance.py``). None when scikit-learn, which fits them, is absent."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return None
    sys.path.insert(0, str(ROOT / "scripts"))
    from fit_resemblance import fit

    def fold(source: str) -> int:
        return int(hashlib.sha256(source.encode()).hexdigest(), 16) % folds

    models: dict[int, Any] = {}
    for group in range(folds):
        kept = [s for s in samples if fold(s.source) != group]
        models[group] = fit([s.text for s in kept], [s.truth for s in kept])

    def model_for(source: str) -> Callable[[], Any]:
        model = models[fold(source)]
        return lambda: model

    return model_for


def _flat(text: str) -> str:
    return " ".join(text.split())


def reply_fixture_texts(directory: Path) -> frozenset[str]:
    """The texts of the repository's own reply fixtures (one reply per file, "#" lines
    are its source), whitespace-flattened, so corpus texts they repeat can be told."""
    texts: set[str] = set()
    if not directory.is_dir():
        return frozenset()
    for path in directory.glob("*/*"):
        if not path.is_file():
            continue
        lines = [
            line
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if not line.startswith("#")
        ]
        if any(line.strip() for line in lines):
            texts.add(_flat("\n".join(lines)))
    return frozenset(texts)


def _short(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


_ABBREV = {
    "accepted": "acc",
    "mailbox_unknown": "mbx?",
    "mailbox_full": "full",
    "mailbox_disabled": "mdis",
    "domain_unknown": "dom?",
    "relay_denied": "rel",
    "auth_required": "auth",
    "tls_required": "tls",
    "blocked_ip_reputation": "ip",
    "blocked_spam_content": "spam",
    "policy_spf_dkim_dmarc": "pol",
    "rate_limited": "rate",
    "greylisted": "grey",
    "message_too_large": "size",
    "syntax_error": "syn",
    "server_unavailable": "unav",
    "other": "oth",
    "delivery_expired": "exp",
    "remote_unreachable": "unre",
}


def _abbrev(label: str) -> str:
    return _ABBREV.get(label, label[:4])


def second_reading(directory: Path) -> dict[tuple[str, str], str]:
    """The categories a second, blind reader gave corpus texts, by (source, text)."""
    labels: dict[tuple[str, str], str] = {}
    for path in sorted(directory.glob("*.toml")) if directory.is_dir() else []:
        with path.open("rb") as handle:
            for item in tomllib.load(handle).get("label", []):
                labels[(str(item["source"]), str(item["text"]))] = str(item["category"])
    return labels


def agreement(results: Sequence[Scored], second: dict[tuple[str, str], str]) -> dict[str, Any]:
    """How far the corpus labels and a second reading agree, and how the classifier fares
    on the texts where they do and against either of them."""
    read = [(r, second.get((r.sample.source, r.sample.text))) for r in results]
    both = [(r, other) for r, other in read if other is not None]
    agreed = [r for r, other in both if other == r.sample.truth]
    return {
        "texts": len(both),
        "readers_agree": len(agreed),
        "classifier_on_agreed": sum(r.predicted == r.sample.truth for r in agreed),
        "classifier_with_either": sum(r.predicted in (r.sample.truth, o) for r, o in both),
    }


def report(
    results: Sequence[Scored],
    loso: dict[str, dict[str, Any]],
    mode: str,
    show_misses: bool,
    elapsed: float,
    seen: frozenset[str] = frozenset(),
    strict: dict[str, dict[str, Any]] | None = None,
    second: dict[str, Any] | None = None,
) -> str:
    lines: list[str] = []
    total = len(results)
    correct = sum(r.predicted == r.sample.truth for r in results)
    bad = harmful(results)
    sources = sorted({r.sample.source for r in results})
    lines.append(
        f"Explanation accuracy on {total} real reply texts from {len(sources)} sources "
        f"({elapsed:.1f} s)"
    )
    lines.append(f"  overall accuracy : {correct}/{total} = {correct / total:.1%}")
    lines.append(f"  harmful confusions: {len(bad)}")
    agree, known = permanence(results)
    silent = sum(1 for r in results if r.sample.permanent is not None and r.permanent is None)
    lines.append(
        f"  permanence agrees: {agree}/{known} texts that have one"
        f" ({silent} of the others give no code to tell it by)"
    )
    fresh = [r for r in results if _flat(r.sample.text) not in seen]
    lines.append(
        f"  also among fixtures/replies: {total - len(fresh)} texts; accuracy on the other "
        f"{len(fresh)}: {accuracy(fresh):.1%}"
    )
    if second and second["texts"]:
        n, agree = second["texts"], second["readers_agree"]
        lines.append(
            f"  a second, blind reading of {n} texts agrees with the labels on {agree}"
            f" ({agree / n:.1%}); on those the classifier is right for"
            f" {second['classifier_on_agreed']} ({second['classifier_on_agreed'] / agree:.1%}),"
            f" and it matches one reading or the other on"
            f" {second['classifier_with_either'] / n:.1%}"
        )
    lines.append("")
    lines.append("Per source                              texts  accuracy   LOSO  strict  harmful")
    for source in sources:
        mine = [r for r in results if r.sample.source == source]
        loso_acc = loso[source]["accuracy"]
        shown = "n/a" if loso_acc is None else f"{loso_acc:.1%}"
        strict_acc = strict[source]["accuracy"] if strict is not None else None
        tight = "n/a" if strict_acc is None else f"{strict_acc:.1%}"
        lines.append(
            f"  {source:<37} {len(mine):>5}  {accuracy(mine):>7.1%}  {shown:>6}  {tight:>6}  "
            f"{len(harmful(mine)):>7}"
        )
    scored = [f for f in loso.values() if f["accuracy"] is not None]
    if scored:
        loso_correct = sum(f["correct"] for f in scored)
        loso_total = sum(f["texts"] for f in scored)
        disabled = sum(len(f["disabled"]) for f in loso.values())
        lines.append(
            f"  leave-one-source-out overall: {loso_correct}/{loso_total} = "
            f"{loso_correct / loso_total:.1%} (mode: {mode}; {disabled} pattern(s) "
            "switched off in all)"
        )
    tight_scored = [f for f in (strict or {}).values() if f["accuracy"] is not None]
    if tight_scored:
        tight_correct = sum(f["correct"] for f in tight_scored)
        tight_total = sum(f["texts"] for f in tight_scored)
        tight_harm = sum(f["harmful"] for f in tight_scored)
        lines.append(
            f"  strict leave-one-source-out: {tight_correct}/{tight_total} = "
            f"{tight_correct / tight_total:.1%} (every rule naming the source switched off; "
            f"{tight_harm} harmful)"
        )
    lines.append("")
    lines.append("Per category                 support  said  precision  recall")
    for label, row in per_category(results).items():
        lines.append(
            f"  {label:<26} {row['support']:>7} {row['predicted']:>5}  "
            f"{row['precision']:>9.1%}  {row['recall']:>6.1%}"
        )
    lines.append("")
    matrix = confusion(results)
    columns = sorted({r.predicted for r in results} | set(matrix))
    lines.append("Confusion matrix (rows: label, columns: classifier)")
    lines.append("  " + " " * 6 + "".join(f"{_abbrev(c):>6}" for c in columns))
    for truth in sorted(matrix):
        counts = matrix[truth]
        cells = "".join(f"{(counts.get(c) or '.')!s:>6}" for c in columns)
        lines.append(f"  {_abbrev(truth):<6}{cells}")
    lines.append("  " + ", ".join(f"{_abbrev(c)}={c}" for c in columns))
    lines.append("")
    lines.append(f"Harmful confusions ({len(bad)})")
    for r in bad:
        lines.append(
            f"  [{r.sample.source}#{r.sample.index}] {r.sample.truth} -> {r.predicted} "
            f"({r.rule}): {_short(r.sample.text)}"
        )
    if show_misses:
        misses = [r for r in results if r.predicted != r.sample.truth]
        lines.append("")
        lines.append(f"Misses ({len(misses)})")
        for r in misses:
            lines.append(
                f"  [{r.sample.source}#{r.sample.index}] {r.sample.truth} -> {r.predicted} "
                f"({r.rule}): {_short(r.sample.text)}"
            )
    return "\n".join(lines)


def figures(
    results: Sequence[Scored],
    loso: dict[str, dict[str, Any]],
    mode: str,
    field: str,
    seen: frozenset[str] = frozenset(),
    strict: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    total = len(results)
    fresh = [r for r in results if _flat(r.sample.text) not in seen]
    scored = [f for f in loso.values() if f["accuracy"] is not None]
    loso_total = sum(f["texts"] for f in scored)
    return {
        "texts": total,
        "sources": len({r.sample.source for r in results}),
        "accuracy": accuracy(results),
        "correct": sum(r.predicted == r.sample.truth for r in results),
        "harmful_confusions": len(harmful(results)),
        "permanence_agrees": permanence(results)[0],
        "permanence_known": permanence(results)[1],
        "also_in_reply_fixtures": total - len(fresh),
        "accuracy_outside_reply_fixtures": accuracy(fresh),
        "harmful": [
            {
                "source": r.sample.source,
                "index": r.sample.index,
                "text": r.sample.text,
                "label": r.sample.truth,
                "predicted": r.predicted,
                "rule": r.rule,
            }
            for r in harmful(results)
        ],
        "per_category": per_category(results),
        "confusion": confusion(results),
        "per_source": {
            source: {
                "texts": len(mine),
                "accuracy": accuracy(mine),
                "harmful": len(harmful(mine)),
            }
            for source in sorted({r.sample.source for r in results})
            for mine in [[r for r in results if r.sample.source == source]]
        },
        "leave_one_source_out": {
            "mode": mode,
            "field": field or None,
            "accuracy": (sum(f["correct"] for f in scored) / loso_total) if loso_total else None,
            "per_source": loso,
        },
        "strict_leave_one_source_out": _overall(strict or {}),
        "misses": [
            {
                "source": r.sample.source,
                "index": r.sample.index,
                "text": r.sample.text,
                "label": r.sample.truth,
                "predicted": r.predicted,
                "rule": r.rule,
            }
            for r in results
            if r.predicted != r.sample.truth
        ],
    }


def _overall(loso: dict[str, dict[str, Any]]) -> dict[str, Any]:
    scored = [f for f in loso.values() if f["accuracy"] is not None]
    total = sum(f["texts"] for f in scored)
    return {
        "accuracy": sum(f["correct"] for f in scored) / total if total else None,
        "harmful": sum(f["harmful"] for f in scored),
        "per_source": loso,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus directory")
    parser.add_argument("--json-out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--show-misses", action="store_true", help="list every miss")
    parser.add_argument(
        "--folds",
        type=int,
        default=10,
        help="leave-one-source-out fits this many resemblance models, each without a "
        "tenth of the sources (default 10; 0: leave-one-source-out without resemblance)",
    )
    args = parser.parse_args(argv)

    samples = load_corpus(args.corpus)
    if not samples:
        print(f"no corpus texts under {args.corpus}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    results = score(samples, packaged_classifier())
    rules_only = catalogue_classifier(frozenset(), lambda: None)
    alone = score(samples, rules_only) if rules_only is not None else []
    field, named = pattern_sources()
    mode = f"patterns named by '{field}'" if named else "no-sources-field"
    if args.folds > 0:
        held_out = held_out_models(samples, args.folds)
        if held_out is None:
            held_out = _without_resemblance
            mode += "; resemblance off (scikit-learn, which fits the held-out models, is absent)"
        else:
            mode += f"; resemblance fitted without the source ({args.folds} folds)"
    else:
        held_out = _without_resemblance
        mode += "; resemblance off"
    loso = leave_one_source_out(results, named, held_out=held_out)
    strict = leave_one_source_out(results, named, strict=True, held_out=held_out)
    elapsed = time.perf_counter() - started
    seen = reply_fixture_texts(REPLY_FIXTURES)
    second = agreement(results, second_reading(SECOND_READING))
    print(report(results, loso, mode, args.show_misses, elapsed, seen, strict, second))
    if alone:
        print(
            f"\nThe rules alone, without resemblance: {accuracy(alone):.1%} "
            f"({sum(r.predicted == r.sample.truth for r in alone)}/{len(alone)}), "
            f"{len(harmful(alone))} harmful. With it the corpus figure above is a fit: the "
            "packaged model was fitted on these texts (leave-one-source-out is not)."
        )
    if args.json_out is not None:
        numbers = figures(results, loso, mode, field, seen, strict)
        numbers["second_reading"] = second
        if alone:
            numbers["rules_alone"] = {
                "accuracy": accuracy(alone),
                "correct": sum(r.predicted == r.sample.truth for r in alone),
                "harmful_confusions": len(harmful(alone)),
            }
        args.json_out.write_text(
            json.dumps(numbers, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


def _without_resemblance(source: str) -> Callable[[], Any]:
    return lambda: None


def run(entry: Callable[[], int]) -> None:
    """Exit with what ``entry`` returns; quietly when the report was piped into a pager
    or ``head`` that quit early."""
    try:
        sys.exit(entry())
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)


if __name__ == "__main__":
    run(main)
