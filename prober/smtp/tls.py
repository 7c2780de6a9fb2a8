"""One TLS path: handshake once, then verify the chain that same handshake delivered.

A mail client that verified inside the handshake would have to drop the connection
when the certificate does not validate, and reconnect without verifying to carry on —
which is what MTAs do (RFC 7435, opportunistic TLS): most MX certificates do not
validate for the MX name. So the handshake never verifies (:func:`client_context`), and
:func:`verify_chain` checks the peer's chain afterwards, against the system's trust
store and any extra CA file, the way OpenSSL would: chain, validity dates, host name.
The session goes on encrypted either way; the result records whether the chain held
and, if not, why.

``cryptography`` is imported only when a chain is verified: a run that never upgrades
to TLS does not pay for it.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import re
import ssl
import warnings
from typing import Any

# RFC 1123 host name labels: letters, digits, hyphens; no leading or trailing hyphen.
# Underscores are tolerated (seen in the wild, accepted by OpenSSL's SNI encoding).
_ENCODING_DER = 2  # _ssl.ENCODING_DER, for certificates of get_unverified_chain
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


@functools.cache
def client_context() -> ssl.SSLContext:
    """The one client context: encrypts, never verifies during the handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def server_name(host: str) -> str | None:
    """``host`` as an SNI server name, or None when it cannot be one.

    A name from DNS is data: a label of spaces is legal in DNS but not in a host name,
    and the TLS library refuses (raises on) such a name. IP literals are never sent as
    SNI (RFC 6066 §3).
    """
    name = host.rstrip(".")
    if not name or len(name) > 253 or not name.isascii():
        return None
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        pass
    else:
        return None
    if not all(_LABEL.fullmatch(label) for label in name.split(".")):
        return None
    return name


def peer_chain(ssl_object: Any) -> list[bytes]:
    """The certificates the server sent (leaf first), DER-encoded, however unverified."""
    getter = getattr(ssl_object, "get_unverified_chain", None)  # Python 3.13+
    if getter is None:
        inner = getattr(ssl_object, "_sslobj", None)
        getter = getattr(inner, "get_unverified_chain", None)
    chain: list[bytes] = []
    if getter is not None:
        for cert in getter() or ():
            data = cert if isinstance(cert, bytes) else cert.public_bytes(_ENCODING_DER)
            chain.append(bytes(data))
    if not chain:
        leaf = ssl_object.getpeercert(binary_form=True)
        if leaf:
            chain.append(bytes(leaf))
    return chain


@functools.cache
def _store(ca_file: str | None) -> Any:
    from cryptography import x509
    from cryptography.x509.verification import Store

    roots: list[x509.Certificate] = []
    paths = ssl.get_default_verify_paths()
    for path in dict.fromkeys(p for p in (paths.cafile, paths.openssl_cafile, ca_file) if p):
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        roots.extend(_certificates(data))
    return Store(roots) if roots else None


def _certificates(pem: bytes) -> list[Any]:
    with warnings.catch_warnings():
        # Some roots in system bundles carry a non-positive serial number; they are
        # still roots this host trusts, and the warning is not the user's business.
        warnings.simplefilter("ignore")
        return _parse_pem(pem)


def _parse_pem(pem: bytes) -> list[Any]:
    from cryptography import x509

    try:
        return list(x509.load_pem_x509_certificates(pem))
    except ValueError:
        found = []
        for block in re.findall(
            rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S
        ):
            try:
                found.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
        return found


def check_ca_file(ca_file: str) -> None:
    """Raise OSError or ValueError when ``ca_file`` holds no readable certificate."""
    with open(ca_file, "rb") as handle:
        if not _certificates(handle.read()):
            raise ValueError(f"{ca_file} holds no PEM certificate")


def verify_chain(
    chain: list[bytes],
    host: str,
    *,
    ca_file: str | None = None,
    now: dt.datetime | None = None,
) -> str | None:
    """None if ``chain`` (leaf first) is trusted and valid for ``host``; else why not.

    The reasons read like OpenSSL's, which is what people search for: "certificate has
    expired", "self-signed certificate", "Hostname mismatch, …".
    """
    if not chain:
        return "the server sent no certificate"
    from cryptography import x509
    from cryptography.x509 import DNSName, IPAddress
    from cryptography.x509 import verification as v

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a server's odd serial number is its business
            leaf = x509.load_der_x509_certificate(chain[0])
            intermediates = [x509.load_der_x509_certificate(c) for c in chain[1:]]
    except ValueError as exc:
        return f"the server's certificate cannot be read ({exc})"
    moment = now if now is not None else dt.datetime.now(dt.UTC)
    if moment > leaf.not_valid_after_utc:
        return f"certificate has expired (not after {leaf.not_valid_after_utc:%Y-%m-%d})"
    if moment < leaf.not_valid_before_utc:
        return f"certificate is not yet valid (not before {leaf.not_valid_before_utc:%Y-%m-%d})"
    store = _store(ca_file)
    names = _dns_names(leaf)
    wanted = host.rstrip(".").lower()
    matches = any(_name_matches(pattern, wanted) for pattern in names)
    # Chain first (as OpenSSL reports it), under a name the certificate does carry.
    subject_name = wanted if matches or not names else names[0].replace("*", "x", 1)
    try:
        subject: Any = DNSName(subject_name)
        try:
            subject = IPAddress(ipaddress.ip_address(wanted))
        except ValueError:
            pass
        if store is None:
            raise v.VerificationError("no trust anchors are available")
        # The Web PKI's rules, less two that private and test authorities (and some
        # mail servers' own) break without making the chain any less sound, and that
        # OpenSSL does not enforce: subjectAltName and extendedKeyUsage marked critical.
        ee = (
            v.ExtensionPolicy.webpki_defaults_ee()
            .require_present(x509.SubjectAlternativeName, v.Criticality.AGNOSTIC, None)
            .may_be_present(x509.ExtendedKeyUsage, v.Criticality.AGNOSTIC, _server_auth)
        )
        builder = (
            v.PolicyBuilder()
            .store(store)
            .time(moment)
            .extension_policies(ca_policy=v.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee)
        )
        builder.build_server_verifier(subject).verify(leaf, intermediates)
    except v.VerificationError as exc:
        if leaf.issuer == leaf.subject:
            return "self-signed certificate (not issued by an authority this host trusts)"
        if any(c.issuer == c.subject for c in intermediates):
            return "self-signed certificate in certificate chain"
        if not names:
            return "the certificate names no host (no subjectAltName)"
        return f"unable to get local issuer certificate ({exc})"
    except ValueError as exc:  # a name cryptography will not take as a DNS name
        return f"the certificate cannot be checked for {host!r} ({exc})"
    if not matches:
        return (
            f"Hostname mismatch, certificate is not valid for {host!r} "
            f"(it names {', '.join(names[:5])})"
        )
    return None


def _server_auth(policy: Any, cert: Any, usage: Any) -> None:
    """An extendedKeyUsage, when present, must allow TLS servers (as OpenSSL checks)."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    if usage is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usage:
        if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in usage:
            raise ValueError("the certificate is not meant for TLS servers (extendedKeyUsage)")


def _dns_names(cert: Any) -> list[str]:
    from cryptography import x509

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names = [str(n).lower() for n in san.get_values_for_type(x509.DNSName)]
    names += [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    return names


def _name_matches(pattern: str, name: str) -> bool:
    if pattern == name:
        return True
    if pattern.startswith("*.") and "." in name:
        return name.split(".", 1)[1] == pattern[2:] and name.split(".", 1)[0] != ""
    return False
