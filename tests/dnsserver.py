"""The loopback DNS server lives in the package (prober.testing.dnsserver); this re-exports it."""

from prober.testing.dnsserver import DNSServer, Fault, Query, ThreadedDNSServer, Zone  # noqa: F401
