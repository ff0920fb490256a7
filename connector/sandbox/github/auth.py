"""GitHub App authentication in the sandbox, as GitHub documents it.

An app signs a JWT with its private key (RS256; `iss` the app's id or client id, `iat` at most
60 s ahead of the server's clock, `exp` no more than 10 minutes in the future) and sends it as
`Authorization: Bearer <jwt>` to the app endpoints (`GET /repos/{owner}/{repo}/installation`,
`POST /app/installations/{id}/access_tokens`); the installation token that returns (`ghs_…`,
valid one hour) authenticates everything else as `Authorization: token …` or `Bearer …`. A JWT
is never accepted where an installation token is needed, nor the other way round.

The app's key pair is created on first start under the sandbox's data dir (`github-app.pem`, the
private key the worker is configured with), like a key downloaded from the app's settings page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TOKEN_LIFETIME = timedelta(hours=1)
MAX_JWT_LIFETIME = timedelta(minutes=10)
CLOCK_DRIFT = timedelta(seconds=60)


class AuthFailure(Exception):
    """401 (no or bad credentials) or 403 (the wrong kind of credentials), with GitHub's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Token:
    value: str
    installation_id: int
    expires_at: datetime


@dataclass
class AppKeys:
    app_id: int
    client_id: str
    private_key_path: Path
    public_pem: bytes
    tokens: dict[str, Token] = field(default_factory=dict)

    @classmethod
    def ensure(cls, data_dir: Path, *, app_id: int, client_id: str) -> AppKeys:
        """Create (or reuse) the app's RSA key pair under `data_dir`."""
        path = data_dir / "github-app.pem"
        if not path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            path.write_bytes(pem)
            path.chmod(0o600)
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        public = loaded.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(app_id=app_id, client_id=client_id, private_key_path=path, public_pem=public)

    def check_jwt(self, authorization: str | None, *, now: datetime) -> None:
        """Accept only a valid app JWT (the app endpoints); raise AuthFailure otherwise."""
        scheme, _, credential = (authorization or "").partition(" ")
        if credential in self.tokens:
            raise AuthFailure(
                403,
                "Installation access tokens cannot be used on this endpoint: "
                "authenticate as the GitHub App with a JWT",
            )
        if scheme.lower() != "bearer" or not credential:
            raise AuthFailure(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                credential,
                self.public_pem,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"], "verify_iat": False},
                leeway=0,
            )
        except jwt.ExpiredSignatureError:
            raise AuthFailure(
                401,
                "'Expiration time' claim ('exp') must be a numeric value "
                "representing the future time at which the assertion expires",
            ) from None
        except jwt.PyJWTError:
            raise AuthFailure(401, "A JSON web token could not be decoded") from None
        if str(claims["iss"]) not in (str(self.app_id), self.client_id):
            raise AuthFailure(401, "'Issuer' claim ('iss') must match the app's id")
        issued = datetime.fromtimestamp(int(claims["iat"]), tz=now.tzinfo)
        expires = datetime.fromtimestamp(int(claims["exp"]), tz=now.tzinfo)
        if issued > now + CLOCK_DRIFT:
            raise AuthFailure(
                401,
                "'Issued at' claim ('iat') must be an Integer representing "
                "the time that the assertion was issued",
            )
        if expires - now > MAX_JWT_LIFETIME + CLOCK_DRIFT or expires <= issued:
            raise AuthFailure(401, "'Expiration time' claim ('exp') is too far in the future")

    def issue_token(self, installation_id: int, *, now: datetime) -> Token:
        token = Token(
            "ghs_" + secrets.token_urlsafe(27)[:36], installation_id, now + TOKEN_LIFETIME
        )
        self.tokens[token.value] = token
        return token

    def check_token(self, authorization: str | None, *, now: datetime) -> Token:
        """The unexpired installation token in the header; AuthFailure otherwise."""
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or not credential:
            raise AuthFailure(401, "Requires authentication")
        token = self.tokens.get(credential)
        if token is None:
            if credential.count(".") == 2:  # a JWT: an app cannot act on a repository itself
                raise AuthFailure(
                    403, "A JSON web token cannot be used here: use an installation access token"
                )
            raise AuthFailure(401, "Bad credentials")
        if token.expires_at <= now:
            raise AuthFailure(401, "Bad credentials")
        return token
