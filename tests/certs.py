"""Certificates for loopback TLS tests, issued by a throwaway trustme authority."""

from __future__ import annotations

import datetime as dt
import hashlib
import ssl
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def issue(
    ca: trustme.CA,
    *names: str,
    expired: bool = False,
    days: int | None = None,
) -> trustme.LeafCert:
    """A leaf certificate for ``names``; ``expired`` ended yesterday, ``days`` ends then."""
    now = dt.datetime.now(dt.UTC)
    if expired:
        return ca.issue_cert(
            *names, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
        )
    if days is not None:
        return ca.issue_cert(
            *names,
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=days, hours=12),
        )
    return ca.issue_cert(*names)


def server_context(leaf: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side context presenting ``leaf`` (no client certificates asked for)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    return context


def ca_file(ca: trustme.CA, directory: Path) -> str:
    """The authority's certificate as a PEM file, for ``tls_ca_file`` options."""
    path = directory / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def leaf_der(leaf: trustme.LeafCert) -> bytes:
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode("ascii"))


def spki_sha256(leaf: trustme.LeafCert) -> str:
    """The TLSA 3 1 1 data of ``leaf``: SHA-256 of its SubjectPublicKeyInfo, hex."""
    cert = x509.load_der_x509_certificate(leaf_der(leaf))
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def cert_sha256(leaf: trustme.LeafCert) -> str:
    """The TLSA 3 0 1 data of ``leaf``: SHA-256 of the whole certificate, hex."""
    return hashlib.sha256(leaf_der(leaf)).hexdigest()
