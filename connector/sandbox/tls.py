"""The sandbox's own certificate authority, so clients keep TLS verification on.

On first start a CA and a server certificate for 127.0.0.1 / localhost are written to the data
dir; later starts reuse them (the server certificate is re-issued when it is near expiry or does
not chain to the stored CA). Clients trust the CA bundle path the sandbox prints.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_DAYS = 3650
_SERVER_DAYS = 365
_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def ensure_tls(data_dir: Path) -> TlsFiles:
    """Create (or reuse) the CA and a server certificate under `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(data_dir / "ca.pem", data_dir / "server.pem", data_dir / "server-key.pem")
    ca_key_path = data_dir / "ca-key.pem"
    if not (files.ca_cert.exists() and ca_key_path.exists()):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca_key_path, ca_key)
        files.ca_cert.write_bytes(_ca_cert(ca_key).public_bytes(serialization.Encoding.PEM))
    ca_key_loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key_loaded, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    if _needs_server_cert(files, ca_cert):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server_cert(key, ca_key_loaded, ca_cert)
        _write_key(files.server_key, key)
        files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "change-connector sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _ca_cert(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = _name("change-connector sandbox CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_cert(
    key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=_SERVER_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _needs_server_cert(files: TlsFiles, ca: x509.Certificate) -> bool:
    if not (files.server_cert.exists() and files.server_key.exists()):
        return True
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    if cert.issuer != ca.subject:
        return True
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, Exception):  # any mismatch means: issue a fresh one
        return True
    return cert.not_valid_after_utc - _now() < _RENEW_BEFORE
