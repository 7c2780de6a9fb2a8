"""Test doubles: a loopback DNS server, loopback mail hosts, the demo world.

Not used by the library at run time; needs aiosmtpd."""
