"""The words prober says itself, in English and Italian, from ``data/messages.toml``.

Server text is quoted as it came; the catalogue (:mod:`prober.explanation.catalogue`)
explains replies. Everything else a person reads — labels, the list summary, progress,
notes about the options — is a message here, looked up by key and language, with its
``{placeholders}`` filled in. A test checks that every key has both languages and the
same placeholders in each.
"""

from __future__ import annotations

import errno
import functools
import re
import tomllib
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any

LANGUAGES = ("en", "it")


@functools.cache
def messages() -> dict[str, dict[str, str]]:
    """Every message: key → {language → text}."""
    data = resources.files("prober").joinpath("data/messages.toml").read_text("utf-8")
    table: dict[str, Any] = tomllib.loads(data)
    return {key: dict(value) for key, value in table.items()}


def message(key: str, lang: str, /, **values: object) -> str:
    """The message ``key`` in ``lang`` (English when the language is not known)."""
    entry = messages()[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**values) if values else text


def worded(key: str, lang: str, params: Mapping[str, object]) -> str:
    """The message of an error (:class:`prober.errors.InputError` and its kin) in
    ``lang``: ``key`` filled in with ``params``, each parameter that is itself an error
    (a ``ProberError`` or an ``OSError``) worded in the same language. A key that is not
    a message is the message itself, as it was written."""
    if key not in messages():
        return key
    values = {name: _value(value, lang) for name, value in params.items()}
    return message(key, lang, **values)


def _value(value: object, lang: str) -> object:
    if isinstance(value, OSError):
        return os_reason(value, lang)
    from prober.errors import Phrase, ProberError

    if isinstance(value, ProberError | Phrase):
        return value.text(lang)
    return value


def os_reason(exc: OSError, lang: str) -> str:
    """Why the operating system refused (``no such file or directory``), in ``lang``
    when the error number has a message (``oserror_ENOENT``), else the system's words."""
    name = errno.errorcode.get(exc.errno or 0, "")
    if name and f"oserror_{name}" in messages():
        return message(f"oserror_{name}", lang)
    why = exc.strerror or str(exc) or type(exc).__name__
    return why[:1].lower() + why[1:]


@functools.cache
def _sentences(lang: str, prefix: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """The templates whose keys start with ``prefix`` as (English pattern, ``lang``
    template), most specific (longest) first."""
    found: list[tuple[int, re.Pattern[str], str]] = []
    for key, texts in messages().items():
        if not key.startswith(prefix) or lang not in texts:
            continue
        english = texts["en"]
        pattern, position, seen = "", 0, set()
        for match in re.finditer(r"\{(\w+)\}", english):
            name = match.group(1)
            pattern += re.escape(english[position : match.start()])
            pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
            seen.add(name)
            position = match.end()
        pattern += re.escape(english[position:])
        literal = len(re.sub(r"\{\w+\}", "", english))
        found.append((literal, re.compile(pattern), texts[lang]))
    found.sort(key=lambda entry: -entry[0])
    return tuple((pattern, target) for _, pattern, target in found)


def translated(text: str, lang: str, prefix: str = "sentence_") -> str:
    """``text`` (a sentence another part of prober wrote in English: an MX answer, a
    syntax refusal) worded in ``lang`` wherever a template knows it; the rest as is.
    ``prefix``: which templates (``usage_sentence_`` for click's and typer's own)."""
    if lang == "en" or not text:
        return text
    for pattern, target in _sentences(lang, prefix):
        if pattern.search(text):
            text = pattern.sub(_filler(target), text)
    return text


def _filler(target: str) -> Callable[[re.Match[str]], str]:
    return lambda match: target.format(**match.groupdict())


def count_of(verdict: str, count: int, lang: str) -> str:
    """ "3 deliverable", "3 consegnabili": a count of one verdict, with its plural."""
    if count == 1:
        return message(f"count_one_{verdict}", lang)
    return message(f"count_{verdict}", lang, count=count)
