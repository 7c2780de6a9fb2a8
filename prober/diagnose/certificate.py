"""Reading a server certificate: names, issuer, expiry, and DANE TLSA matching (pure).

The TLS handshake gives the certificate as DER bytes; what a support desk wants to know
is whose it is, who signed it, when it runs out, whether it names the MX host, and
whether it is the one the domain pinned in DNS (TLSA, RFC 6698 / RFC 7672). Nothing here
touches the network, so every rule is testable with generated certificates.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

__all__ = [
    "CertInfo",
    "TLSAMatch",
    "name_matches",
    "parse_certificate",
    "tlsa_matches",
]


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What the certificate says about itself."""

    subject: str  # RFC 4514 text, e.g. "CN=mx1.example.test"
    common_name: str | None
    names: tuple[str, ...]  # DNS names and IP addresses from subjectAltName
    issuer: str
    not_before: str  # ISO 8601, UTC
    not_after: str
    days_left: int  # whole days until not_after; negative once expired
    self_signed: bool
    sha256: str  # fingerprint of the whole certificate, hex


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def parse_certificate(der: bytes, now: dt.datetime | None = None) -> CertInfo:
    """Read ``der``; raises :class:`ValueError` if it is not a certificate."""
    cert = x509.load_der_x509_certificate(der)
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    names: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    else:
        names.extend(san.get_values_for_type(x509.DNSName))
        names.extend(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    not_after = cert.not_valid_after_utc
    # Floor division: a certificate expiring in 3 hours has 0 days left, one that expired
    # an hour ago has -1.
    days_left = int((not_after - moment).total_seconds() // 86400)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=_attribute(cert.subject, NameOID.COMMON_NAME),
        names=tuple(names),
        issuer=cert.issuer.rfc4514_string(),
        not_before=cert.not_valid_before_utc.isoformat(),
        not_after=not_after.isoformat(),
        days_left=days_left,
        self_signed=cert.issuer == cert.subject,
        sha256=hashlib.sha256(der).hexdigest(),
    )


def _label_match(pattern: str, host: str) -> bool:
    # RFC 6125 §6.4.3: a wildcard stands for exactly one whole left-most label, never a
    # partial label and never more than one level.
    if pattern.startswith("*."):
        rest = pattern[2:]
        head, dot, tail = host.partition(".")
        return bool(head) and bool(dot) and tail == rest and rest.count(".") >= 1
    return pattern == host


def _normal(name: str) -> str:
    text = name.strip().rstrip(".").lower()
    try:
        return text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        return text


def name_matches(host: str, info: CertInfo) -> bool:
    """True if the certificate is valid for ``host`` (a host name or IP address).

    The subjectAltName names decide when there are any; the common name is consulted only
    for certificates without them (RFC 6125 §6.4.4), as mail senders still do.
    """
    wanted = _normal(host)
    try:
        ip = ipaddress.ip_address(wanted.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(_is_ip(name, ip) for name in info.names)
    candidates = [n for n in info.names if not _looks_like_ip(n)]
    if not candidates and info.common_name:
        candidates = [info.common_name]
    return any(_label_match(_normal(name), wanted) for name in candidates)


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_ip(text: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(text) == ip
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class TLSAMatch:
    """How one TLSA record compares with the served certificate."""

    matched: bool | None  # None: this record cannot be checked from the leaf alone
    reason: str  # a sentence, for the transcript


def tlsa_matches(der: bytes, usage: int, selector: int, mtype: int, data: bytes) -> TLSAMatch:
    """Compare one TLSA record (RFC 6698 §2.1) with the end-entity certificate ``der``.

    Usages 1 (PKIX-EE) and 3 (DANE-EE) pin the server's own certificate or key and can
    be checked here. Usages 0 and 2 pin a certificate authority somewhere up the chain,
    which the handshake did not hand over, so they are reported as not checked.
    """
    if usage not in (1, 3):
        return TLSAMatch(
            None,
            f"usage {usage} pins a certificate authority in the chain; only the server's "
            "own certificate was available, so it was not checked",
        )
    if selector == 0:
        content = der
    elif selector == 1:
        cert = x509.load_der_x509_certificate(der)
        content = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    else:
        return TLSAMatch(False, f"selector {selector} is not defined (only 0 and 1 are)")
    if mtype == 0:
        digest = content
    elif mtype == 1:
        digest = hashlib.sha256(content).digest()
    elif mtype == 2:
        digest = hashlib.sha512(content).digest()
    else:
        return TLSAMatch(False, f"matching type {mtype} is not defined (only 0, 1 and 2 are)")
    what = "certificate" if selector == 0 else "public key"
    if digest == data:
        return TLSAMatch(True, f"{usage} {selector} {mtype} matches the server's {what}")
    return TLSAMatch(False, f"{usage} {selector} {mtype} does not match the server's {what}")
