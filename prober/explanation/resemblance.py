"""Resemblance: the last and weakest reading of a reply that no rule could place.

The catalogue's rules and word families read what a reply says; when none of them says
anything specific (the reading is ``other``, or its confidence is low), the reply's
wording is compared with the whole real-reply corpus (``fixtures/corpus``): a linear
model over character n-grams of the normalised text, fitted on every labelled text by
``scripts/fit_resemblance.py`` and kept as data in ``prober/data/resemblance.bin.gz``.
It is how a reply in words no rule was written for ("Il server SMTP ha rifiutato
l'autenticazione") still gets a useful, clearly hedged reading.

It never says that an address is bad: a resemblance to missing mailboxes or domains is
no evidence (``explain`` leaves those to the rules, which need words or codes that say
so). Pure code; the model is read once, on first use.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from prober.smtp.reply import STAMPED_ID

__all__ = [
    "Resemblance",
    "decode",
    "encode",
    "features",
    "load_resemblance",
    "normalise",
    "words",
]

# The n-gram lengths, taken inside each word padded with one space on either side.
NGRAMS = (2, 5)

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_ADDRESS = re.compile(r"\S+@\S+|<address>")
_IPV4 = re.compile(r"\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}\b")
# What the packaged path of ``explain`` leaves of a stamped identifier.
_MASKED_ID = re.compile(r"\bid0\b")
# printf, .NET and Python placeholders in texts taken from program sources.
_PLACEHOLDER = re.compile(r"%[-+ #0-9.]*[a-zA-Z]|\{[0-9]*\}|%[0-9]")
_ENHANCED = re.compile(r"\b([245])\.([0-9]{1,3})\.([0-9]{1,3})\b")
_BASIC = re.compile(r"\b[245][0-9][0-9]\b")
_NUMBER = re.compile(r"[0-9]+")


def normalise(text: str) -> str:
    """The text as the model reads it: lower case, with the parts that differ from one
    reply to the next (addresses, links, IP addresses, identifiers, numbers) replaced by
    one token each, and codes written as words ("efh efhxb" for 5.7.1, "cffa" for 550)."""
    text = _URL.sub(" zurl ", text)
    text = _ADDRESS.sub(" zaddr ", text)
    text = _IPV4.sub(" zip ", text)
    text = _MASKED_ID.sub(" zid ", STAMPED_ID.sub(" zid ", text))
    text = _PLACEHOLDER.sub(" zph ", text)
    text = _ENHANCED.sub(lambda m: _letters(f" e{m[1]}{m[2]} e{m[1]}{m[2]}x{m[3]} "), text)
    text = _BASIC.sub(lambda m: _letters(f" c{m[0]} "), text)
    return _NUMBER.sub(" zn ", text.lower())


# Codes are spelt in letters ("5.7.1" is "efh efhxb"), so that other numbers can be one token.
_DIGIT_LETTERS = str.maketrans("0123456789", "abcdefghij")


def _letters(token: str) -> str:
    return token.translate(_DIGIT_LETTERS)


def features(text: str) -> Counter[str]:
    """The character n-grams of each word of the normalised text, padded with a space."""
    low, high = NGRAMS
    grams: Counter[str] = Counter()
    for word in normalise(text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if n >= len(padded):
                grams[padded] += 1  # a short word: once, whole
                break
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    return grams


_WORD = re.compile(r"[^\W0-9_]{3,}")


def words(text: str) -> set[str]:
    """The words of three letters or more of the normalised text."""
    return set(_WORD.findall(normalise(text)))


@dataclass(frozen=True, slots=True)
class Resemblance:
    """A fitted model: per n-gram its inverse document frequency and its weight for each
    category; a text's score for a category is its intercept plus the weights of the
    text's n-grams (sub-linear term frequency times idf, L2-normalised), and the scores
    become probabilities by softmax. Weights are kept as 16-bit integers times ``scale``.
    """

    categories: tuple[str, ...]
    intercepts: tuple[float, ...]
    rows: Mapping[str, int]  # n-gram -> its row
    idf: Sequence[float]
    weights: Sequence[int]  # row-major, one column per category
    scale: float
    corpus: str  # the SHA-256 of the corpus it was fitted on (scripts/fit_resemblance.py)
    texts: int  # how many texts it was fitted on
    words: frozenset[str] = frozenset()  # the corpus's words of three letters or more

    def familiar(self, text: str) -> float:
        """The share of the text's words (three letters or more) that the corpus uses."""
        seen = words(text)
        return sum(w in self.words for w in seen) / len(seen) if seen else 0.0

    def closest(self, text: str) -> tuple[str, float] | None:
        """The category the text's wording is closest to and its probability, or None
        when none of the text's n-grams is known."""
        values: dict[int, float] = {}
        for gram, count in features(text).items():
            row = self.rows.get(gram)
            if row is not None:
                values[row] = (1.0 + math.log(count)) * self.idf[row]
        if not values:
            return None
        norm = math.sqrt(sum(v * v for v in values.values()))
        width = len(self.categories)
        sums = [0.0] * width
        weights = self.weights
        for row, value in values.items():
            start = row * width
            for index in range(width):
                sums[index] += weights[start + index] * value
        factor = self.scale / norm
        scores = [b + s * factor for b, s in zip(self.intercepts, sums, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        best = scores.index(top)
        return self.categories[best], exps[best] / sum(exps)


MODEL = "resemblance.bin.gz"


def encode(model: Resemblance) -> bytes:
    """The model as the package keeps it: a JSON header line, then the idf values
    (32-bit floats) and the weights (16-bit integers), little-endian, gzip'd."""
    header = {
        "about": "prober's resemblance model, fitted by scripts/fit_resemblance.py",
        "ngrams_per_word": list(NGRAMS),
        "corpus": model.corpus,
        "texts": model.texts,
        "categories": list(model.categories),
        "intercepts": list(model.intercepts),
        "scale": model.scale,
        "ngrams": sorted(model.rows, key=model.rows.__getitem__),
        "words": sorted(model.words),
    }
    idf, weights = array("f", model.idf), array("h", model.weights)
    if sys.byteorder != "little":
        idf.byteswap()
        weights.byteswap()
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(head + b"\n" + idf.tobytes() + weights.tobytes(), mtime=0)


def decode(raw: bytes) -> Resemblance:
    data = gzip.decompress(raw)
    head, _, body = data.partition(b"\n")
    header = json.loads(head)
    grams: list[str] = header["ngrams"]
    categories = tuple(str(c) for c in header["categories"])
    idf, weights = array("f"), array("h")
    cut = 4 * len(grams)
    idf.frombytes(body[:cut])
    weights.frombytes(body[cut:])
    if sys.byteorder != "little":
        idf.byteswap()
        weights.byteswap()
    if len(weights) != len(grams) * len(categories):
        raise ValueError("resemblance model: the weights do not fit the n-grams")
    return Resemblance(
        categories=categories,
        intercepts=tuple(float(x) for x in header["intercepts"]),
        rows={g: i for i, g in enumerate(grams)},
        idf=idf,
        weights=weights,
        scale=float(header["scale"]),
        corpus=str(header["corpus"]),
        texts=int(header["texts"]),
        words=frozenset(header.get("words", ())),
    )


@cache
def load_resemblance() -> Resemblance | None:
    """The packaged model, or None when the package carries none."""
    resource = resources.files("prober").joinpath("data").joinpath(MODEL)
    try:
        return decode(resource.read_bytes())
    except FileNotFoundError:
        return None
