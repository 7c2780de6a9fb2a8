"""The loopback DNS server lives in the package (prober.dnsserver); this re-exports it."""

from prober.dnsserver import DNSServer, Fault, Query, ThreadedDNSServer, Zone  # noqa: F401
