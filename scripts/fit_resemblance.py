"""Fit the resemblance model on the real-reply corpus: ``python scripts/fit_resemblance.py``.

Writes ``prober/data/resemblance.bin.gz`` (see ``prober/explanation/resemblance.py``):
a logistic regression over the character n-grams of every labelled text in
``fixtures/corpus``, with the SHA-256 of the corpus it was fitted on. A test checks that
the packaged model was fitted on the corpus as it is now; after adding or relabelling
texts, run this again. Needs scikit-learn (``pip install -e '.[fit]'``); the model itself
is read with the standard library alone. The same output for the same corpus, byte for
byte.

``benchmarks/explain_accuracy.py`` uses :func:`fit` to score each source with a model
that never saw it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tomllib
from array import array
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prober.explanation.resemblance import (  # noqa: E402
    MODEL,
    Resemblance,
    encode,
    features,
    words,
)

CORPUS = ROOT / "fixtures" / "corpus"
OUT = ROOT / "prober" / "data" / MODEL

# The fit: inverse regularisation strength, the fewest texts an n-gram must occur in, and
# the smallest weight kept (smaller ones change the probabilities by less than 1%).
C = 10.0
MIN_DF = 2
PRUNE = 0.02


def corpus_digest(directory: Path = CORPUS) -> str:
    """The SHA-256 of the corpus files, names and contents, in name order."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.toml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_texts(directory: Path = CORPUS) -> list[tuple[str, str, str]]:
    """Every corpus text as (source id, text, category), in file order."""
    out: list[tuple[str, str, str]] = []
    for path in sorted(directory.glob("*.toml")):
        with path.open("rb") as handle:
            data = tomllib.load(handle)
        source = str(data["source"]["id"])
        out += [(source, str(r["text"]), str(r["category"])) for r in data.get("reply", [])]
    return out


def _grams(text: str) -> list[str]:
    return list(features(text).elements())


def fit(texts: Sequence[str], labels: Sequence[str], *, corpus: str = "") -> Resemblance:
    """A model fitted on these texts and their categories."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectoriser = TfidfVectorizer(analyzer=_grams, min_df=MIN_DF, sublinear_tf=True, lowercase=False)
    matrix = vectoriser.fit_transform(texts)
    model = LogisticRegression(C=C, max_iter=5000)
    model.fit(matrix, list(labels))
    return _model(vectoriser, model, corpus=corpus, texts=texts)


def _model(vectoriser: Any, model: Any, *, corpus: str, texts: Sequence[str]) -> Resemblance:
    coef = [[w if abs(w) >= PRUNE else 0.0 for w in row] for row in model.coef_]
    top = max(abs(w) for row in coef for w in row) or 1.0
    scale = top / 32767
    columns = sorted(vectoriser.vocabulary_.items(), key=lambda item: item[0])
    kept = [(g, c) for g, c in columns if any(row[c] for row in coef)]
    weights = [round(row[c] / scale) for g, c in kept for row in coef]
    return Resemblance(
        categories=tuple(str(c) for c in model.classes_),
        intercepts=tuple(round(float(b), 6) for b in model.intercept_),
        rows={g: i for i, (g, _) in enumerate(kept)},
        idf=array("f", (float(vectoriser.idf_[c]) for _, c in kept)),
        weights=array("h", weights),
        scale=scale,
        corpus=corpus,
        texts=len(texts),
        words=frozenset(w for t in texts for w in words(t)),
    )


def fit_corpus(directory: Path = CORPUS, exclude: Iterable[str] = ()) -> Resemblance:
    """A model fitted on the corpus, leaving out the texts of the sources in ``exclude``."""
    left_out = set(exclude)
    rows = [(t, c) for s, t, c in load_texts(directory) if s not in left_out]
    digest = corpus_digest(directory) if not left_out else ""
    return fit([t for t, _ in rows], [c for _, c in rows], corpus=digest)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    model = fit_corpus()
    payload = encode(model)
    args.out.write_bytes(payload)
    rows = load_texts()
    same = sum((model.closest(t) or ("other", 0.0))[0] == c for _, t, c in rows)
    print(
        f"{args.out.relative_to(ROOT)}: {len(payload) // 1024} KiB, {len(model.idf)} n-grams, "
        f"fitted on {model.texts} texts; reads {same} of them as labelled"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
