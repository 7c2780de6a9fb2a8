"""Probe events as the web page receives them (server-sent events), from the contract's
:class:`~prober.service.engine.ProbeEvent` fields only."""

from __future__ import annotations

from typing import Any

from prober.service.engine import ProbeEvent
from prober.service.translate import step_in_language


def event_dict(event: ProbeEvent, lang: str) -> dict[str, Any]:
    """The JSON object sent for ``event``; its step explained in ``lang``."""
    data: dict[str, Any] = {"kind": event.kind, "address": event.address}
    if event.host is not None:
        data["host"] = event.host
    if event.ip is not None:
        data["ip"] = event.ip
    if event.step is not None:
        step = event.step
        if step.explanation.lang != lang:
            step = step_in_language(step, lang)
        data["step"] = step.to_dict()
    mx = event.mx
    if mx is not None:
        data["mx"] = {
            "domain": mx.domain,
            "status": str(mx.status),
            "detail": mx.detail,
            "hosts": [
                {"name": h.name, "preference": h.preference, "addresses": list(h.addresses)}
                for h in mx.hosts
            ],
        }
    return data
