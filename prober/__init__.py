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

from prober.address import Address, parse_address
from prober.engine.many import probe_many, probe_many_sync
from prober.engine.session import probe, probe_sync
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

__version__ = "0.1.0"

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
