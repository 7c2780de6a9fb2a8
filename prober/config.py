"""The configuration file: the identity and manners a probe should use on this machine.

A TOML file, found in this order: the path given (``--config PATH``), ``$PROBER_CONFIG``,
then the platform's configuration directory (``$XDG_CONFIG_HOME/prober/config.toml``,
by default ``~/.config/prober/config.toml``; ``~/Library/Application Support/prober``
on macOS; ``%APPDATA%\\prober`` on Windows). Only an explicitly named file must exist.
Every key is optional; options given on the command line win over the file::

    helo = "probe.example.com"        # a name that resolves to this host
    mail_from = "postmaster@example.com"
    dns_servers = ["127.0.0.53:53"]
    dns_timeout = 5.0
    proxy = "socks5://127.0.0.1:1080"
    source_address = "192.0.2.10"
    lang = "it"

    [politeness]                      # list mode
    concurrency = 20
    per_host = 2
    rate = 5.0                        # RCPT per second per domain
    rcpt_per_transaction = 20
    rcpt_per_session = 100
    greylist_retry = 300.0

The loader is pure apart from reading the file, so the command line, the service and
its workers share it: :func:`load_config` gives a :class:`Config`, and
:meth:`Config.probe_options` applies it to :class:`prober.results.ProbeOptions`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prober.errors import InputError, Phrase
from prober.resolve.mx import DNSConfig, parse_dns_server
from prober.results import ProbeOptions

ENV = "PROBER_CONFIG"

# key → (type, where it goes): a top-level key, or one under [politeness].
_TOP: dict[str, type | tuple[type, ...]] = {
    "helo": str,
    "mail_from": str,
    "dns_servers": list,
    "dns_timeout": (int, float),
    "proxy": str,
    "source_address": str,
    "lang": str,
}
_POLITENESS: dict[str, type | tuple[type, ...]] = {
    "concurrency": int,
    "per_host": int,
    "rate": (int, float),
    "rcpt_per_transaction": int,
    "rcpt_per_session": int,
    "greylist_retry": (int, float),
}

if TYPE_CHECKING:
    from prober.knowledge.policy import Policy


@dataclass(frozen=True, slots=True)
class Config:
    """What a configuration file said; None for what it did not say."""

    path: str | None = None
    helo: str | None = None
    mail_from: str | None = None
    dns_servers: tuple[str, ...] | None = None
    dns_timeout: float | None = None
    proxy: str | None = None
    source_address: str | None = None
    lang: str | None = None
    concurrency: int | None = None
    per_host: int | None = None
    rate: float | None = None
    rcpt_per_transaction: int | None = None
    rcpt_per_session: int | None = None
    greylist_retry: float | None = None
    # [knowledge] and [policy]: the user's own lists and the verdict policy.
    knowledge: Policy | None = None

    def given(self) -> dict[str, Any]:
        """The keys the file set that are command-line options, with their values."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("path", "knowledge") and getattr(self, f.name) is not None
        }

    def probe_options(self, base: ProbeOptions | None = None) -> ProbeOptions:
        """``base`` with what this file says about identity, DNS and the network."""
        options = base if base is not None else ProbeOptions()
        changes: dict[str, Any] = {}
        for name in ("helo", "mail_from", "proxy", "source_address", "lang", "knowledge"):
            value = getattr(self, name)
            if value is not None:
                changes[name] = value
        if self.dns_servers is not None or self.dns_timeout is not None:
            servers = (
                tuple(parse_dns_server(s) for s in self.dns_servers)
                if self.dns_servers is not None
                else options.dns.servers
            )
            timeout = self.dns_timeout if self.dns_timeout is not None else options.dns.timeout
            changes["dns"] = DNSConfig(servers=servers, timeout=timeout)
        return replace(options, **changes)

    def command_defaults(self) -> dict[str, Any]:
        """Defaults for the command line's options (click's ``default_map`` of a command):
        the option names, with the file's values."""
        given = self.given()
        out: dict[str, Any] = {}
        for key, value in given.items():
            if key == "dns_servers":
                out["dns_server"] = list(value)
            else:
                out[key] = value
        return out


def default_path(env: Mapping[str, str] | None = None, platform: str | None = None) -> Path:
    """Where the configuration file lives on this platform when nothing else is named."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    home = Path(env.get("HOME") or Path.home())
    if platform.startswith("win"):
        base = Path(env.get("APPDATA") or home / "AppData" / "Roaming")
    elif platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        xdg = env.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
    return base / "prober" / "config.toml"


def find_config(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file to read: the one named (which must exist), else $PROBER_CONFIG (which
    must exist too), else the platform's default if it exists; None when there is none."""
    env = os.environ if env is None else env
    named = explicit if explicit is not None else env.get(ENV) or None
    if named is not None:
        path = Path(named).expanduser()
        if not path.is_file():
            where = "--config" if explicit is not None else f"${ENV}"
            raise InputError("error_config_missing", path=named, where=where)
        return path
    default = default_path(env)
    return default if default.is_file() else None


def load_config(explicit: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the configuration file (see the module's docstring); an empty Config if none."""
    path = find_config(explicit, env)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError("error_cannot_read", path=path, why=exc) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError("error_config_toml", path=path, error=exc) from None
    return parse_config(data, str(path))


def parse_config(data: Mapping[str, Any], path: str | None = None) -> Config:
    """A :class:`Config` from a parsed TOML table, every key and type checked; errors
    name ``path`` (the file), or say "the configuration" when it is None."""
    shown: str | Phrase = path if path is not None else Phrase("config_unnamed")
    found = _parse(data, shown)
    from prober.knowledge.policy import policy_from_config

    return Config(path=path, knowledge=policy_from_config(data, shown), **found)


def _parse(data: Mapping[str, Any], path: str | Phrase) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("knowledge", "policy"):
            continue  # read below, by the knowledge layer
        if key == "politeness":
            if not isinstance(value, Mapping):
                raise InputError("error_config_politeness_table", path=path)
            for inner, item in value.items():
                values[inner] = _checked(path, f"politeness.{inner}", _POLITENESS, inner, item)
            continue
        values[key] = _checked(path, key, _TOP, key, value)
    if "dns_servers" in values:
        servers = values["dns_servers"]
        if not all(isinstance(s, str) for s in servers):
            raise InputError("error_config_dns_servers", path=path)
        for server in servers:
            try:
                parse_dns_server(server)
            except InputError as exc:
                raise InputError("error_config_dns_server", path=path, error=exc) from None
        values["dns_servers"] = tuple(servers)
    lang = values.get("lang")
    if lang is not None and lang not in ("en", "it"):
        raise InputError("error_config_lang", path=path, lang=lang)
    for name in ("concurrency", "per_host", "rcpt_per_transaction", "rcpt_per_session"):
        if name in values and values[name] < 1:
            raise InputError("error_config_at_least_1", path=path, name=f"politeness.{name}")
    for name in ("rate", "dns_timeout"):
        if name in values and not values[name] > 0:
            raise InputError("error_config_above_0", path=path, name=name)
    if "greylist_retry" in values and values["greylist_retry"] < 0:
        raise InputError("error_config_negative", path=path, name="politeness.greylist_retry")
    for name in ("rate", "dns_timeout", "greylist_retry"):
        if name in values:
            values[name] = float(values[name])
    try:
        # The identity is checked as the options check it, before any packet is sent.
        ProbeOptions(helo=values.get("helo", ""), mail_from=values.get("mail_from"))
    except InputError as exc:
        raise InputError("error_in_file", path=path, error=exc) from None
    return values


def _checked(
    path: str | Phrase,
    shown: str,
    table: Mapping[str, type | tuple[type, ...]],
    key: str,
    value: Any,
) -> Any:
    if key not in table:
        known = ", ".join(sorted(table))
        raise InputError("error_config_unknown_key", path=path, key=shown, known=known)
    wanted = table[key]
    if isinstance(value, bool) or not isinstance(value, wanted):
        names = (
            wanted.__name__ if isinstance(wanted, type) else " or ".join(t.__name__ for t in wanted)
        )
        raise InputError(
            "error_config_type", path=path, key=shown, types=names, value=repr(value)
        )
    return value


# Names that only mean something inside one network (RFC 6761, RFC 8375, common habits).
_LOCAL_SUFFIXES = (
    ".localdomain",
    ".localhost",
    ".local",
    ".lan",
    ".home",
    ".home.arpa",
    ".internal",
    ".intranet",
    ".corp",
)


def local_name(helo: str) -> bool:
    """Whether ``helo`` is a name no outside server can look up (``localhost.localdomain``)."""
    name = helo.lower().rstrip(".")
    if name.startswith("["):
        return False  # an address literal says what it is
    return "." not in name or name == "localhost" or name.endswith(_LOCAL_SUFFIXES)


async def identity_warnings(
    options: ProbeOptions, resolver: Any, lang: str, config_path: str | None = None
) -> tuple[str, ...]:
    """What is wrong with the name the probe will introduce itself with, as sentences:
    a local name, or one that has no A or AAAA record (``resolver`` is a
    :class:`prober.resolve.mx.Resolver`)."""
    from prober.output.messages import message

    helo = options.resolved_helo()
    where = config_path or str(default_path())
    if local_name(helo):
        return (message("helo_local", lang, helo=helo, config=where),)
    if helo.startswith("["):
        return ()
    answers = await asyncio.gather(*(resolver.query(helo, t) for t in ("A", "AAAA")))
    if any(a.records or a.outcome.temporary for a in answers):
        return ()  # it resolves, or DNS cannot tell now: nothing to say
    return (message("helo_unresolved", lang, helo=helo, config=where),)
