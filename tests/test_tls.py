"""The one TLS path's pure parts: which names may be SNI, and verifying a delivered chain."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
import trustme

from prober.smtp.tls import server_name, verify_chain


@pytest.mark.parametrize(
    ("name", "sni"),
    [
        ("mx1.example.test", "mx1.example.test"),
        ("mx1.example.test.", "mx1.example.test"),
        ("MX_1.example.test", "MX_1.example.test"),
        (" " * 30 + ".example.test", None),  # legal in DNS, not a host name
        ("\\032\\032.example.test", None),  # the same, as DNS text shows it
        ("-mx.example.test", None),
        ("mx..example.test", None),
        ("m\u00e9l.example.test", None),  # not A-labels
        ("a" * 64 + ".test", None),
        ("192.0.2.1", None),  # RFC 6066: no IP literals in SNI
        ("[2001:db8::1]", None),
        ("", None),
    ],
)
def test_only_host_names_become_sni(name: str, sni: str | None) -> None:
    assert server_name(name) == sni


def chain_of(leaf: trustme.LeafCert) -> list[bytes]:
    return [ssl.PEM_cert_to_DER_cert(pem.bytes().decode()) for pem in leaf.cert_chain_pems]


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def test_a_trusted_chain_for_the_name_verifies(ca: trustme.CA, ca_file: str) -> None:
    assert (
        verify_chain(chain_of(ca.issue_cert("mx.tls.test")), "mx.tls.test", ca_file=ca_file) is None
    )


def test_an_intermediate_sent_by_the_server_completes_the_chain(
    ca: trustme.CA, ca_file: str
) -> None:
    leaf = ca.create_child_ca().issue_cert("*.tls.test")
    assert verify_chain(chain_of(leaf), "mx.tls.test", ca_file=ca_file) is None


@pytest.mark.parametrize(
    ("names", "host", "says"),
    [
        (("other.tls.test",), "mx.tls.test", "Hostname mismatch"),
        (("*.tls.test",), "a.b.tls.test", "Hostname mismatch"),
    ],
)
def test_problems_read_like_openssl(
    ca: trustme.CA, ca_file: str, names: tuple[str, ...], host: str, says: str
) -> None:
    problem = verify_chain(chain_of(ca.issue_cert(*names)), host, ca_file=ca_file)
    assert problem is not None and says in problem


def test_expired_and_untrusted(ca: trustme.CA, ca_file: str, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    old = ca.issue_cert(
        "mx.tls.test", not_before=now - dt.timedelta(days=9), not_after=now - dt.timedelta(days=1)
    )
    problem = verify_chain(chain_of(old), "mx.tls.test", ca_file=ca_file)
    assert problem is not None and "expired" in problem
    stranger = trustme.CA().issue_cert("mx.tls.test")
    problem = verify_chain(chain_of(stranger), "mx.tls.test", ca_file=ca_file)
    assert problem is not None and "unable to get local issuer certificate" in problem
    assert verify_chain([], "mx.tls.test") == "the server sent no certificate"
    problem = verify_chain([b"not a certificate"], "mx.tls.test")
    assert problem is not None and "cannot be read" in problem
