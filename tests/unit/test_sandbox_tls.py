"""The sandbox CA: generated once, reused, and the server certificate chains to it."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from connector.sandbox.tls import ensure_tls


def test_ca_generated_once_and_server_cert_chains(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path)
    ca_pem = first.ca_cert.read_bytes()
    server_pem = first.server_cert.read_bytes()
    again = ensure_tls(tmp_path)
    assert again.ca_cert.read_bytes() == ca_pem
    assert again.server_cert.read_bytes() == server_pem
    ca = x509.load_pem_x509_certificate(ca_pem)
    server = x509.load_pem_x509_certificate(server_pem)
    server.verify_directly_issued_by(ca)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert (tmp_path / "ca-key.pem").stat().st_mode & 0o077 == 0


def test_server_cert_reissued_when_ca_changes(tmp_path: Path) -> None:
    first = ensure_tls(tmp_path)
    old_server = first.server_cert.read_bytes()
    (tmp_path / "ca.pem").unlink()
    (tmp_path / "ca-key.pem").unlink()
    second = ensure_tls(tmp_path)
    assert second.server_cert.read_bytes() != old_server
    ca = x509.load_pem_x509_certificate(second.ca_cert.read_bytes())
    x509.load_pem_x509_certificate(second.server_cert.read_bytes()).verify_directly_issued_by(ca)
