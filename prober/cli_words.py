"""The command line's own words in the user's language: which language, the help of
every command and option, and usage errors.

The language is known before click parses anything (``-h`` is eager): ``--lang``
anywhere on the command line, else ``PROBER_LANG``, else the configuration file's
``lang``, else the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``, the first one set,
as POSIX orders them: Italian when it starts with ``it``), else English.

Help texts stay written in English where they are declared (``help=...`` and
docstrings); ``data/help.toml`` holds each one's Italian, found by its English words as
gettext finds a msgid. Usage errors are worded from ``data/messages.toml``: the
``usage_*`` templates stand for click's and typer's own sentences, and an
:class:`OptionError` carries its message's key. typer formats a few words of the help
page ("Options", "[default: …]", "[required]") through the standard ``gettext``
function it imports; :func:`typer_words` takes its place, following :data:`LANGUAGE`.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import typer
import typer.core

from prober.output.messages import message, translated, worded

LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("prober_cli_language", default="en")

# Options that take a value, as they may be written before the command's name.
GLOBAL_OPTIONS = ("--lang", "--config", "--color", "--colour")


# -- which language -------------------------------------------------------------------


def _lang_of(value: str | None) -> str | None:
    """``it``, ``it_IT.UTF-8``, ``it-CH`` → it; ``en…`` → en; anything else None."""
    if not value:
        return None
    head = value.strip().lower().replace("-", "_").split("_")[0].split(".")[0]
    return head if head in ("en", "it") else None


def option_value(args: Sequence[str], name: str) -> str | None:
    """The value of ``name`` (``--lang it`` or ``--lang=it``) on the command line, the
    last one when it is given twice (as click takes it); None when absent."""
    found: str | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == name and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(name + "="):
            found = arg.split("=", 1)[1]
    return found


def locale_language(env: Mapping[str, str]) -> str | None:
    """The language of the locale: the first of LC_ALL, LC_MESSAGES, LANG that is set
    (POSIX precedence); None for C, POSIX and every language prober does not speak."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return _lang_of(value)
    return None


def choose_language(
    args: Sequence[str], env: Mapping[str, str] | None = None, config_lang: str | None = None
) -> str:
    """The language of this run (see the module's docstring); ``config_lang`` is the
    configuration file's ``lang``, when it has one."""
    env = os.environ if env is None else env
    for candidate in (option_value(args, "--lang"), env.get("PROBER_LANG"), config_lang):
        if candidate:
            return _lang_of(candidate) or "en"  # a bad value is refused in English later
    return locale_language(env) or "en"


@contextlib.contextmanager
def speaking(lang: str) -> Iterator[None]:
    """Within the block, typer's own words (:func:`typer_words`) are in ``lang``."""
    token = LANGUAGE.set(lang)
    try:
        yield
    finally:
        LANGUAGE.reset(token)


# -- help in the language ---------------------------------------------------------------


def _key(text: str) -> str:
    """Whitespace does not count; a blank line separates paragraphs."""
    paragraphs = [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


@functools.cache
def _help_table() -> dict[str, Any]:
    data = resources.files("prober").joinpath("data/help.toml").read_text("utf-8")
    table: dict[str, Any] = tomllib.loads(data)
    return table


@functools.cache
def help_texts(lang: str) -> dict[str, str]:
    """English help text (whitespace-normalised) → its text in ``lang``."""
    if lang == "en":
        return {}
    return {_key(entry["en"]): entry[lang] for entry in _help_table().get("help", [])}


@functools.cache
def _typer_texts(lang: str) -> dict[str, str]:
    return {entry["en"]: entry[lang] for entry in _help_table().get("words", [])}


@functools.cache
def _metavars(lang: str) -> dict[str, str]:
    return {entry["en"]: entry[lang] for entry in _help_table().get("metavar", [])}


def help_text(text: str, lang: str) -> str:
    """``text`` (an English help text) in ``lang``, or as it is when none is known."""
    if lang == "en" or not text:
        return text
    return help_texts(lang).get(_key(text), text)


def typer_words(msgid: str) -> str:
    """typer's ``gettext``: its few words of a help page, in :data:`LANGUAGE`."""
    lang = LANGUAGE.get()
    if lang == "en":
        return msgid
    return _typer_texts(lang).get(msgid, msgid)


typer.core._ = typer_words  # type: ignore[assignment,attr-defined]  # typer's one translation hook


def localize(command: Any, lang: str) -> None:
    """Word the click command tree in ``lang``: command and option help, metavars,
    ``[OPTIONS]``, the usage line and the help option. English leaves it as typer made
    it."""
    if lang == "en":
        return
    _localize(command, lang)


def _localize(command: Any, lang: str) -> None:
    if command.help:
        command.help = help_text(command.help, lang)
    command.short_help = None  # made again from the translated help
    if getattr(command, "options_metavar", None):
        command.options_metavar = message("usage_options_metavar", lang)
    if getattr(command, "subcommand_metavar", None):
        command.subcommand_metavar = message("usage_command_metavar", lang)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = help_text(param.help, lang)
        if param.metavar:
            param.metavar = _metavar(param.metavar, lang)
    _usage_in(command, lang)
    for sub in getattr(command, "commands", {}).values():
        _localize(sub, lang)


def _metavar(metavar: str, lang: str) -> str:
    return _metavars(lang).get(metavar, metavar)


def _usage_in(command: Any, lang: str) -> None:
    """The usage line ("Uso: probe check [OPZIONI] [INDIRIZZO]...") and the help option
    of one command, in ``lang`` (instance attributes over typer's methods)."""
    prefix = message("usage_prefix", lang) + " "
    get_help_option = command.get_help_option

    def format_usage(ctx: Any, formatter: Any) -> None:
        pieces = command.collect_usage_pieces(ctx)
        formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=prefix)

    def help_option(ctx: Any) -> Any:
        option = get_help_option(ctx)
        if option is not None:
            option.help = help_text(option.help or "", lang)
        return option

    command.format_usage = format_usage
    command.get_help_option = help_option


# -- usage errors -----------------------------------------------------------------------


class OptionError(typer.BadParameter):
    """A value an option cannot take: ``key`` of ``data/messages.toml`` with its
    ``params``, shown in the user's language (``str()`` is English), naming the option
    ``hint``."""

    def __init__(self, key: str, hint: str, /, **params: object) -> None:
        super().__init__(worded(key, "en", params), param_hint=hint)
        self.key = key
        self.params = params

    def text(self, lang: str) -> str:
        return worded(self.key, lang, self.params)


def usage_error(exc: Any, lang: str) -> str:
    """A click usage error as the user reads it: the usage line, where to find help, and
    what is wrong, in ``lang``."""
    lines: list[str] = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            shown = f"{ctx.command_path} {ctx.help_option_names[0]}"
            lines.append(message("usage_try_help", lang, command=shown))
        lines.append("")
    lines.append(message("usage_error", lang, text=_what(exc, lang)))
    return "\n".join(lines)


def _what(exc: Any, lang: str) -> str:
    if isinstance(exc, OptionError):
        hint = _hint(exc)
        if hint is None:
            return message("usage_invalid_value", lang, text=exc.text(lang))
        return message("usage_invalid_value_for", lang, hint=hint, text=exc.text(lang))
    text = str(exc.format_message())
    return translated(text, lang, prefix="usage_sentence_")


def _hint(exc: Any) -> str | None:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        return str(exc.param.get_error_hint())
    if hint is not None and not isinstance(hint, str):
        return " / ".join(repr(x) for x in hint)
    return hint
