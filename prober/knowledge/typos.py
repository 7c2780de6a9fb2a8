"""Typo suggestions for the domains of popular providers (pure).

A suggestion is offered only when the typed domain cannot receive mail: DNS says it does
not exist, has a null MX, no MX of its own (an implicit MX is a web server's address,
not a mail service), or it ends in a top-level domain that does not exist, or it has no
dot at all. A real domain with its own MX is never "corrected", however close it is to
a famous one. Suggestions are hints: what was probed stays what was typed.
"""

from __future__ import annotations

from prober.knowledge.data import typo_table
from prober.resolve.mx import MXResult, MXStatus

# A US/Italian QWERTY keyboard's rows; a slip to a neighbouring key costs less than a
# substitution by any other letter.
_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
_NO_MAIL = (MXStatus.NO_DOMAIN, MXStatus.NULL_MX, MXStatus.NO_MAIL_HOSTS, MXStatus.IMPLICIT)


def _neighbours() -> dict[str, frozenset[str]]:
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    near: dict[str, frozenset[str]] = {}
    for c, (r, i) in where.items():
        near[c] = frozenset(
            d for d, (r2, i2) in where.items() if d != c and abs(r - r2) <= 1 and abs(i - i2) <= 1
        )
    return near


_NEAR = _neighbours()


def distance(typed: str, meant: str) -> float:
    """Optimal-string-alignment distance: insertion, deletion and the swap of two
    neighbouring characters cost 1; a substitution costs 1 by a neighbouring key and
    1.5 by any other."""
    rows = len(typed) + 1
    cols = len(meant) + 1
    d = [[0.0] * cols for _ in range(rows)]
    for i in range(rows):
        d[i][0] = float(i)
    for j in range(cols):
        d[0][j] = float(j)
    for i in range(1, rows):
        a = typed[i - 1]
        for j in range(1, cols):
            b = meant[j - 1]
            if a == b:
                cost = 0.0
            elif b in _NEAR.get(a, frozenset()):
                cost = 1.0
            else:
                cost = 1.5
            best = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a == meant[j - 2] and typed[i - 2] == b:
                best = min(best, d[i - 2][j - 2] + 1)
            d[i][j] = best
    return d[-1][-1]


def _close(typed: str, meant: str) -> float | None:
    """The distance when ``typed`` is one slip from ``meant``, else None."""
    if abs(len(typed) - len(meant)) > 1:
        return None
    found = distance(typed, meant)
    # One slip of any kind for names of nine characters or more ("gmial.com",
    # "yahho.com"); for shorter ones only a neighbouring key, a missing or extra letter or
    # a swap, so "aol.com" is not read into every three-letter domain.
    limit = 1.5 if len(meant) >= 9 else 1.0
    return found if 0 < found <= limit else None


def suggest_domain(domain: str, mx: MXResult | None) -> str | None:
    """The popular domain ``domain`` is probably a typo of, or None.

    ``mx`` is the domain's MX result; None when DNS was not asked (offline, or the
    address was refused before DNS), in which case only domains that cannot exist at
    all — no dot, or a top-level domain that does not exist — get a suggestion.
    """
    table = typo_table()
    typed = domain.strip().lower().rstrip(".")
    if not typed or typed in table.popular or typed.startswith("["):
        return None
    no_mail = mx is not None and mx.status in _NO_MAIL
    if "." not in typed:
        for meant in table.popular:
            if typed == meant.replace(".", ""):
                return meant
        return _nearest(typed, table.popular, dotless=True)
    name, _, tld = typed.rpartition(".")
    impossible = tld in table.tld_slips
    if not impossible and not no_mail:
        return None
    if impossible:
        candidates = [f"{name}.{table.tld_slips[tld]}"]
    elif tld in table.tld_near:
        candidates = [f"{name}.{table.tld_near[tld]}", typed]
    else:
        candidates = [typed]
    for candidate in candidates:
        if candidate in table.popular:
            return candidate
    for candidate in candidates:
        found = _nearest(candidate, table.popular)
        if found is not None:
            return found
    return None


def _nearest(typed: str, popular: tuple[str, ...], *, dotless: bool = False) -> str | None:
    best: tuple[float, int, str] | None = None
    for rank, meant in enumerate(popular):
        target = meant.replace(".", "") if dotless else meant
        if not dotless and typed.rpartition(".")[2] != meant.rpartition(".")[2]:
            # The top-level domain was typed right (or already repaired): only names
            # under the same one are candidates, so "gmail.it" is not turned into a
            # ".com".
            continue
        found = _close(typed, target)
        if found is not None and (best is None or (found, rank) < best[:2]):
            best = (found, rank, meant)
    return None if best is None else best[2]
