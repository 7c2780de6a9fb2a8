"""What the knowledge layer may change: the verdict policy and the user's own lists (pure).

The defaults follow one rule: a disposable address, or an acceptance from a provider that
accepts every address, is not worth calling deliverable; a role address or a free
mailbox is a fact worth showing, not a reason to doubt delivery. The config file's
``[policy]`` table changes the first rule's actions and the ``[knowledge]`` table adds to
or removes from the packaged lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prober.errors import InputError, Phrase

FLAG = "flag"  # shown in the flags, verdict untouched
RISKY = "risky"  # a deliverable verdict becomes risky, with this reason
ACTIONS = (FLAG, RISKY)

_POLICY_KEYS = ("disposable", "role", "free_provider", "accept_all_provider")
_LIST_KEYS = (
    "disposable",
    "not_disposable",
    "free",
    "not_free",
    "roles",
    "not_roles",
)


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().lower().rstrip(".") for v in values if v.strip())


@dataclass(frozen=True, slots=True)
class Policy:
    """Actions per finding, and the user's additions to (and removals from) the lists."""

    disposable: str = RISKY
    role: str = FLAG
    free_provider: str = FLAG
    accept_all_provider: str = RISKY
    extra_disposable: frozenset[str] = frozenset()  # domains
    not_disposable: frozenset[str] = frozenset()
    extra_free: frozenset[str] = frozenset()  # domains
    not_free: frozenset[str] = frozenset()
    extra_roles: frozenset[str] = frozenset()  # local parts
    not_roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        for key in _POLICY_KEYS:
            value = getattr(self, key)
            if value not in ACTIONS:
                raise InputError("error_policy_action", key=key, value=value)

    @classmethod
    def from_tables(
        cls, knowledge: Mapping[str, Any] | None = None, policy: Mapping[str, Any] | None = None
    ) -> Policy:
        """A policy from the config file's ``[knowledge]`` and ``[policy]`` tables.

        ``[knowledge]`` holds lists of strings: ``disposable``, ``not_disposable``,
        ``free``, ``not_free`` (domains) and ``roles``, ``not_roles`` (local parts).
        ``[policy]`` maps ``disposable``, ``role``, ``free_provider`` and
        ``accept_all_provider`` to ``"flag"`` or ``"risky"``.
        """
        knowledge = knowledge or {}
        policy = policy or {}
        for table, allowed in (("knowledge", _LIST_KEYS), ("policy", _POLICY_KEYS)):
            given = knowledge if table == "knowledge" else policy
            unknown = sorted(set(given) - set(allowed))
            if unknown:
                raise InputError(
                    "error_policy_unknown", table=table, key=unknown[0], known=", ".join(allowed)
                )
        lists: dict[str, frozenset[str]] = {}
        for key in _LIST_KEYS:
            value = knowledge.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError("error_knowledge_list", key=key)
            lists[key] = _names(value)
        actions: dict[str, str] = {}
        for key in _POLICY_KEYS:
            value = policy.get(key, getattr(cls(), key))
            if not isinstance(value, str):
                raise InputError("error_policy_value", key=key)
            actions[key] = value.lower()
        return cls(
            disposable=actions["disposable"],
            role=actions["role"],
            free_provider=actions["free_provider"],
            accept_all_provider=actions["accept_all_provider"],
            extra_disposable=lists["disposable"],
            not_disposable=lists["not_disposable"],
            extra_free=lists["free"],
            not_free=lists["not_free"],
            extra_roles=lists["roles"],
            not_roles=lists["not_roles"],
        )


DEFAULT_POLICY = Policy()


_UNNAMED = Phrase("config_unnamed")


def policy_from_config(data: Mapping[str, Any], path: str | Phrase = _UNNAMED) -> Policy | None:
    """The policy a parsed configuration file sets, or None when it has neither table.

    ``data`` is the whole file as parsed TOML; only its ``[knowledge]`` and ``[policy]``
    tables are read. Errors name the file, as the configuration loader's do.
    """
    knowledge = data.get("knowledge")
    policy = data.get("policy")
    if knowledge is None and policy is None:
        return None
    for name, table in (("knowledge", knowledge), ("policy", policy)):
        if table is not None and not isinstance(table, Mapping):
            raise InputError("error_config_table", path=path, name=name)
    try:
        return Policy.from_tables(knowledge, policy)
    except InputError as exc:
        raise InputError("error_in_file", path=path, error=exc) from None
