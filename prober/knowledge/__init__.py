"""Know the address before the dialogue: lists, providers, typos and the verdict policy.

Everything here is pure: functions over an address, its MX result and a finished
result. Nothing is fetched at run time; the lists come with the installed packages
(see :mod:`prober.knowledge.data`).

- :func:`annotate` — flags on a finished result, and the policy applied to its verdict;
- :func:`check_offline` — syntax and knowledge only, no DNS and no SMTP;
- :func:`suggest_domain` — the popular domain a typed one is probably a typo of;
- :class:`Policy` — what the flags may change, and the user's own lists.
"""

from prober.knowledge.annotate import (
    annotate,
    flags_of,
    is_disposable,
    is_free,
    normalized_for,
    provider_of,
    role_of,
)
from prober.knowledge.offline import check_offline, run_offline_list
from prober.knowledge.policy import DEFAULT_POLICY, Policy, policy_from_config
from prober.knowledge.typos import suggest_domain

__all__ = [
    "DEFAULT_POLICY",
    "Policy",
    "annotate",
    "check_offline",
    "flags_of",
    "is_disposable",
    "is_free",
    "normalized_for",
    "policy_from_config",
    "provider_of",
    "role_of",
    "run_offline_list",
    "suggest_domain",
]
