"""Receiving-side diagnosis of a domain, sender preflight, certificate reading."""
