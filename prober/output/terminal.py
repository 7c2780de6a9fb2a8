"""Making outside text safe to show on a terminal (pure).

Almost everything prober shows came from somewhere else: server replies, DNS TXT
records (SPF, DMARC, MTA-STS, TLS-RPT), TLSA data, certificate subjects, blocklist
reasons, bounce diagnostics, pasted text, lines of a list file. Any of it can carry
bytes a terminal obeys: an ESC sequence that moves the cursor, rewrites the screen, sets
the window title or plants a hyperlink; a carriage return that overwrites the line; a
bidirectional override that makes text read differently from what it is (CVE-2021-42574,
"Trojan Source"); a zero-width character that hides part of a name.

The rule is applied once, where text leaves for the terminal: :func:`safe_block` on every
text output of every command (``prober/cli.py``), and :func:`safe` on each outside field
of the one coloured rendering (``render.result_text``), before its own colour codes are
added. What is escaped, shown as a visible ``\\x1b`` / ``\\u202e`` form instead:

- C0 controls (U+0000-U+001F, newline excepted between lines), DEL and the C1 controls
  (U+007F-U+009F, which some terminals obey as ESC sequences in UTF-8);
- every Unicode format character (category Cf): the bidi embeddings, overrides and
  isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E, U+200F and U+061C, zero
  width spaces and joiners, the soft hyphen, the byte order mark, tag characters …;
- the line and paragraph separators U+2028 and U+2029, lone surrogates (undecodable
  input), and the invisible Hangul fillers U+115F, U+1160, U+3164 and U+FFA0.

JSON output is not escaped this way: it stays exact. :func:`json_safe` writes the same
characters as JSON ``\\uXXXX`` escapes, which mean the same string to any JSON reader.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["is_unsafe", "json_safe", "safe", "safe_block"]

_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0")


def is_unsafe(char: str) -> bool:
    """True for a character that must not reach a terminal as it is."""
    return unicodedata.category(char) in _CATEGORIES or char in _INVISIBLE


def _shown(char: str) -> str:
    point = ord(char)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


def safe(text: str) -> str:
    """``text`` as one line a terminal shows exactly: every unsafe character, newline
    included, replaced by its visible escape (``\\x1b``, ``\\u202e``)."""
    if text.isascii() and text.isprintable():
        return text  # the common case, and the fast one
    return "".join(_shown(c) if is_unsafe(c) else c for c in text)


def safe_block(text: str) -> str:
    """``text`` as lines a terminal shows exactly: the newlines between lines are kept,
    everything else unsafe is escaped as by :func:`safe`."""
    if text.isascii() and text.isprintable():
        return text
    return "\n".join(safe(line) for line in text.split("\n"))


_NOT_PLAIN_ASCII = re.compile("[^\x00-\x7e]")

# In serialised JSON these can only be inside strings (the syntax itself is ASCII), so
# replacing each by its \uXXXX escape gives the same document.
def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    if not is_unsafe(char):
        return char
    point = ord(char)
    if point < 0x10000:
        return f"\\u{point:04x}"
    point -= 0x10000  # JSON writes characters beyond the BMP as a UTF-16 pair
    return f"\\u{0xD800 + (point >> 10):04x}\\u{0xDC00 + (point & 0x3FF):04x}"


def json_safe(document: str) -> str:
    """A serialised JSON document with the characters a terminal could obey (DEL, C1
    controls, bidi and other format characters, lone surrogates) written as ``\\uXXXX``
    escapes. JSON serialisers already escape C0 controls and leave these as they are;
    the result decodes to exactly the same value."""
    if document.isascii() and "\x7f" not in document:
        return document
    # Judge each distinct character once: a long document holds few distinct ones.
    unsafe = [c for c in set(_NOT_PLAIN_ASCII.findall(document)) if is_unsafe(c)]
    if not unsafe:
        return document
    return re.sub(f"[{re.escape(''.join(unsafe))}]", _json_escape, document)
