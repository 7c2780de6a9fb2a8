"""The probing engine: one engine behind every front door, its plan, verdicts, lists.

Importing this package is light (no aiosmtpd, rich or typer); ``Engine`` and
``EngineLimits`` load :mod:`prober.engine.core` when first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prober.engine.core import Engine, EngineLimits, ProbeEvent, finish_result

__all__ = ["Engine", "EngineLimits", "ProbeEvent", "finish_result"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from prober.engine import core

        return getattr(core, name)
    raise AttributeError(name)
