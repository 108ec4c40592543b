"""OAuth access tokens for Vertex AI, minted from a service account's key.

The service account's JSON (``vertex_credentials``: the JSON itself or a path
to it) holds an RSA key. A token is had by signing a JWT (RS256) and
exchanging it at the account's ``token_uri`` (RFC 7523). The first call mints
one; afterwards a token within ``REFRESH_MARGIN_S`` of expiry is replaced by a
background task while requests keep using the one still valid, so no request
waits for a refresh unless the token actually ran out.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import (
    UpstreamAuthError,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
    upstream_error_for_status,
)
from gateway.providers.transport import UpstreamPool

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
ASSERTION_LIFETIME_S = 3600
REFRESH_MARGIN_S = 300.0
# A token this close to expiry is not used at all: a request could outlive it.
MIN_VALIDITY_S = 30.0
TOKEN_TIMEOUT_S = 30.0


class CredentialsError(ValueError):
    """The service-account credentials cannot be used; the message never holds the key."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    key: rsa.RSAPrivateKey
    key_id: str | None
    token_uri: str
    project_id: str | None


def load_service_account(value: str) -> ServiceAccount:
    """Read ``vertex_credentials``: a service account's JSON, or the path of its file."""
    text = value.strip()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(
                f"cannot read the credentials file: {exc.strerror or type(exc).__name__}"
            ) from None
    try:
        info = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise CredentialsError("the credentials are not valid JSON") from None
    if not isinstance(info, dict) or info.get("type", "service_account") != "service_account":
        raise CredentialsError("the credentials are not a service account's JSON key")
    email, pem = info.get("client_email"), info.get("private_key")
    if not isinstance(email, str) or not isinstance(pem, str):
        raise CredentialsError("the credentials lack client_email or private_key")
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise CredentialsError("the credentials' private_key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CredentialsError("the credentials' private_key is not an RSA key")
    key_id = info.get("private_key_id")
    project = info.get("project_id")
    return ServiceAccount(
        client_email=email,
        key=key,
        key_id=key_id if isinstance(key_id, str) else None,
        token_uri=str(info.get("token_uri") or DEFAULT_TOKEN_URI),
        project_id=project if isinstance(project, str) else None,
    )


def signed_assertion(account: ServiceAccount, now: int) -> str:
    """The RS256-signed JWT that asks ``token_uri`` for a cloud-platform token."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if account.key_id:
        header["kid"] = account.key_id
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": now,
        "exp": now + ASSERTION_LIFETIME_S,
    }
    signing_input = _b64(orjson.dumps(header)) + b"." + _b64(orjson.dumps(claims))
    signature = account.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode()


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class VertexTokens:
    """A service account's current access token, refreshed before it runs out."""

    def __init__(self, account: ServiceAccount, pool: UpstreamPool, deployment: str) -> None:
        self._account = account
        self._pool = pool
        self._deployment = deployment
        self._token: str | None = None
        self._expires = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    async def headers(self) -> Mapping[str, str]:
        return {"authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        now = time.time()
        token = self._token
        if token is not None and now < self._expires - MIN_VALIDITY_S:
            if now >= self._expires - REFRESH_MARGIN_S:
                self._start_refresh()
            return token
        await asyncio.shield(self._start_refresh())
        if self._token is None:
            raise UpstreamAuthError(
                "no Vertex AI access token could be minted", deployment=self._deployment
            )
        return self._token

    def _start_refresh(self) -> asyncio.Task[None]:
        """The refresh under way, or a new one: one at a time, whoever asks."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(self._refresh())
            self._refreshing.add_done_callback(_retrieve)
        return self._refreshing

    async def _refresh(self) -> None:
        now = int(time.time())
        form = urlencode(
            {"grant_type": GRANT_TYPE, "assertion": signed_assertion(self._account, now)}
        )
        session = self._pool.session_for(self._account.token_uri)
        uri = self._account.token_uri
        try:
            async with asyncio.timeout(TOKEN_TIMEOUT_S):
                async with session.post(
                    uri,
                    data=form.encode(),
                    headers={"content-type": "application/x-www-form-urlencoded"},
                ) as response:
                    raw = await response.read()
                    status = response.status
        except TimeoutError as exc:
            raise UpstreamTimeout(
                "the Vertex AI token endpoint did not answer", deployment=self._deployment
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamConnectionError(
                f"could not reach the Vertex AI token endpoint ({type(exc).__name__})",
                deployment=self._deployment,
            ) from exc
        if status >= 400:
            raise self._failure(status, raw)
        try:
            answer = orjson.loads(raw)
            token = str(answer["access_token"])
            lifetime = float(answer.get("expires_in", ASSERTION_LIFETIME_S))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise UpstreamAuthError(
                "the Vertex AI token endpoint answered without an access token",
                deployment=self._deployment,
            ) from None
        self._token = token
        self._expires = now + lifetime

    def _failure(self, status: int, raw: bytes) -> UpstreamError:
        try:
            answer = orjson.loads(raw)
            detail = f"{answer.get('error')}: {answer.get('error_description', '')}".strip(": ")
        except (orjson.JSONDecodeError, AttributeError):
            detail = f"HTTP {status}"
        message = f"the Vertex AI token endpoint refused the service account ({detail})"
        if status in (400, 401, 403):
            return UpstreamAuthError(message, upstream_status=401, deployment=self._deployment)
        return upstream_error_for_status(status, message, deployment=self._deployment)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Log a background refresh that failed (the next request past expiry retries it)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.warning("vertex_ai token refresh failed: %s", error)
