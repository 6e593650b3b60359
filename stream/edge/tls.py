"""A self-signed certificate for HTTPS on the LAN.

Phones grant the camera only to secure contexts, so the server speaks HTTPS by default. On first
run we generate a key and a certificate for localhost, 127.0.0.1 and the machine's LAN
address(es) and keep them in a directory (default `.tls/`); later runs reuse them, so a phone that
accepted the certificate once is not asked again. A new one is made only when the old one is
unreadable, about to expire, or does not cover an address we now serve on (the LAN IP changed).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from inference.core.atomic_write import write_atomically

log = logging.getLogger(__name__)

CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
VALIDITY = dt.timedelta(days=365)
RENEW_BEFORE = dt.timedelta(days=14)
COMMON_NAME = "VisionAnything Live (self-signed)"


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path
    created: bool  # True when this run generated it


def ensure_certificate(
    cert_dir: Path, hosts: Sequence[str], now: dt.datetime | None = None
) -> Certificate:
    """The certificate in `cert_dir` if it is usable for `hosts`, else a newly generated one.

    `hosts` are DNS names or IP addresses; each becomes a subjectAltName entry.
    """
    now = now or dt.datetime.now(dt.UTC)
    hosts = _unique(hosts)
    if not hosts:
        raise ValueError("a certificate needs at least one host name or address")
    cert_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = cert_dir / CERT_FILE, cert_dir / KEY_FILE
    if cert_path.exists() and key_path.exists():
        problem = _problem(cert_path, key_path, hosts, now)
        if problem is None:
            log.info("using the certificate in %s", cert_dir)
            return Certificate(cert_path, key_path, created=False)
        log.info("making a new certificate: %s", problem)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _self_signed(key, hosts, now)
    # the key first: a certificate never sits next to a key that is not its own
    _write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    log.info("generated a self-signed certificate in %s for %s", cert_dir, ", ".join(hosts))
    return Certificate(cert_path, key_path, created=True)


def certificate_hosts(cert_path: Path) -> list[str]:
    """The subjectAltName entries of a PEM certificate, as strings."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return _san_hosts(cert)


def server_ssl_context(certificate: Certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate.cert, certificate.key)
    return context


def _problem(cert_path: Path, key_path: Path, hosts: Sequence[str], now: dt.datetime) -> str | None:
    """Why the stored certificate cannot be reused, or None when it can."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        return f"the stored one is unreadable ({exc})"
    if key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        return "the stored key does not match the stored certificate"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return f"the stored one expires on {cert.not_valid_after_utc:%Y-%m-%d}"
    covered = {_normalise(h) for h in _san_hosts(cert)}
    missing = [h for h in hosts if _normalise(h) not in covered]
    if missing:
        return f"the stored one does not cover {', '.join(missing)}"
    return None


def _self_signed(
    key: ec.EllipticCurvePrivateKey, hosts: Sequence[str], now: dt.datetime
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))  # tolerate a phone's clock running late
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )


def _san_hosts(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    hosts = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return [*san.get_values_for_type(x509.DNSName), *hosts]


def _normalise(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower().rstrip(".")


def _unique(hosts: Sequence[str]) -> list[str]:
    seen: dict[str, str] = {}
    for host in hosts:
        host = host.strip()
        if host and _normalise(host) not in seen:
            seen[_normalise(host)] = host
    return list(seen.values())


def _write_private(path: Path, data: bytes) -> None:
    """Write `data` readable by the owner only, atomically (a crash leaves the old file)."""
    write_atomically(path, data, mode=0o600)
