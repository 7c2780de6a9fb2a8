"""The words prober says itself, in English and Italian, from ``data/messages.toml``.

Server text is quoted as it came; the catalogue (:mod:`prober.explanation.catalogue`)
explains replies. Everything else a person reads — labels, the list summary, progress,
notes about the options — is a message here, looked up by key and language, with its
``{placeholders}`` filled in. A test checks that every key has both languages and the
same placeholders in each.
"""

from __future__ import annotations

import functools
import tomllib
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
