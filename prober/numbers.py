"""Numbers read from outside text, with ASCII rules only (pure).

``str.isdigit()``, ``int()`` and the regex class ``\\d`` accept far more than 0-9: ``int``
reads Arabic-Indic and fullwidth digits, ``isdigit`` is true for superscripts ("²") that
``int`` then refuses, and ``\\d`` matches every decimal digit of Unicode. A server's SIZE,
a reply code, a port, a TTL or a retry hint is ASCII by its protocol's grammar; anything
else is not a number. Every such number in prober is read with :func:`ascii_int`.
"""

from __future__ import annotations

import re

# The ASCII digit class for patterns: use it instead of \d in any regex on outside text.
DIGIT = "[0-9]"
_DIGITS = re.compile(r"[0-9]+")


def is_ascii_digits(text: str) -> bool:
    """True when ``text`` is one or more of the ASCII digits 0-9 and nothing else."""
    return _DIGITS.fullmatch(text) is not None


def ascii_int(
    text: str, *, low: int | None = None, high: int | None = None, max_digits: int = 20
) -> int | None:
    """``text`` as a non-negative integer when it is ASCII digits only (at most
    ``max_digits`` of them, so a hostile megabyte of digits costs nothing) and within
    ``low``..``high``; otherwise None. No sign, no spaces, no underscores."""
    if len(text) > max_digits or not is_ascii_digits(text):
        return None
    value = int(text)
    if (low is not None and value < low) or (high is not None and value > high):
        return None
    return value


def ascii_port(text: str) -> int | None:
    """A TCP/UDP port, 1-65535, written in ASCII digits; otherwise None."""
    return ascii_int(text, low=1, high=65535, max_digits=5)
