"""A certificate that does not verify: a permanent error naming `ca_bundle`, never retried."""

from __future__ import annotations

import ssl

import pytest
import requests

from connector.core.errors import PermanentError, TransientError
from connector.systems.http import CertificateNotTrusted, RetryPolicy, call


def untrusted() -> requests.exceptions.SSLError:
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate"
    )
    try:
        raise requests.exceptions.SSLError(cause)
    except requests.exceptions.SSLError as exc:
        return exc


def test_verification_failure_is_permanent_and_names_the_setting() -> None:
    attempts: list[int] = []
    sleeps: list[float] = []

    def fetch() -> None:
        attempts.append(1)
        raise untrusted()

    with pytest.raises(CertificateNotTrusted) as caught:
        call(
            fetch,
            source="acme-jira",
            what="read serverInfo",
            system="Jira",
            policy=RetryPolicy(sleep=sleeps.append),
        )
    assert len(attempts) == 1 and sleeps == []
    error = caught.value
    assert isinstance(error, PermanentError) and not isinstance(error, TransientError)
    assert error.exit_code == 2
    assert error.message == (
        "acme-jira: read serverInfo: the TLS certificate of Jira is not trusted; set "
        "sources.acme-jira.ca_bundle to a PEM bundle with the CA that issued it "
        "(verification is never switched off)"
    )


def test_other_tls_failures_stay_transient() -> None:
    sleeps: list[float] = []

    def fetch() -> None:
        raise requests.exceptions.SSLError("EOF occurred in violation of protocol")

    with pytest.raises(TransientError):
        call(
            fetch,
            source="acme-jira",
            what="read",
            system="Jira",
            policy=RetryPolicy(attempts=3, sleep=sleeps.append),
        )
    assert len(sleeps) == 2
