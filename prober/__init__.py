"""prober: check whether an address can receive mail, and explain every SMTP reply.

The library in three calls::

    import asyncio, prober

    result = asyncio.run(prober.probe("alice@example.com"))
    print(result.verdict, result.reason, result.summary)

    why = prober.explain_text("550 5.1.1 The email account that you tried to reach does not exist")
    print(why.category, why.meaning, why.action)

    quick = prober.check_offline("alice@gmail.con")  # no DNS, no SMTP
    print(quick.flags.suggestion)                     # alice@gmail.com
    for result in prober.probe_many_sync(["a@example.com", "b@example.com"]):
        print(result.address, result.verdict)

Probing never sends DATA: it stops after RCPT TO, then RSET and QUIT.
"""

import typing as _typing

from prober.address import Address, parse_address
from prober.engine.verdict import Reason, Verdict
from prober.errors import (
    AddressError,
    CatalogueError,
    CommandError,
    GuardError,
    InputError,
    NetworkError,
    OutputError,
    ProberError,
)
from prober.explanation.bounce import Bounce, BouncedRecipient, parse_bounce
from prober.explanation.catalogue import Category, Stage, Who
from prober.explanation.explain import (
    Explanation,
    explain,
    explain_event,
    explain_reply,
    explain_text,
)
from prober.guard import Guard
from prober.knowledge import Policy, annotate, check_offline
from prober.resolve.mx import DNSConfig, MXResult, MXStatus, Resolver
from prober.results import Attempt, Flags, ProbeEvent, ProbeOptions, ProbeResult, Step
from prober.smtp.reply import Reply

if _typing.TYPE_CHECKING:
    from prober.engine.core import Engine, EngineLimits
    from prober.engine.many import probe_many, probe_many_sync
    from prober.engine.session import probe, probe_sync

__version__ = "0.1.0"

# Loaded when first used: ``import prober`` (and the command line's help, ``explain``)
# does not pay for the engine.
_LAZY = {
    "Engine": "prober.engine.core",
    "EngineLimits": "prober.engine.core",
    "probe": "prober.engine.session",
    "probe_sync": "prober.engine.session",
    "probe_many": "prober.engine.many",
    "probe_many_sync": "prober.engine.many",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'prober' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Address",
    "AddressError",
    "Attempt",
    "Bounce",
    "BouncedRecipient",
    "CatalogueError",
    "Category",
    "CommandError",
    "DNSConfig",
    "Engine",
    "EngineLimits",
    "Explanation",
    "Flags",
    "Guard",
    "GuardError",
    "InputError",
    "MXResult",
    "MXStatus",
    "NetworkError",
    "OutputError",
    "Policy",
    "ProbeEvent",
    "ProbeOptions",
    "ProbeResult",
    "ProberError",
    "Reason",
    "Reply",
    "Resolver",
    "Stage",
    "Step",
    "Verdict",
    "Who",
    "__version__",
    "annotate",
    "check_offline",
    "explain",
    "explain_event",
    "explain_reply",
    "explain_text",
    "parse_address",
    "parse_bounce",
    "probe",
    "probe_many",
    "probe_many_sync",
    "probe_sync",
]
