"""Who is calling: API key from metadata (x-api-key, Authorization: Bearer) or the JSON body's apiKey.

Lookups are cached for a couple of seconds so that every request does not hit ClickHouse,
while a revoked key stops working within CACHE_SECONDS (the promise is 5 s). Entries past half that age are
reloaded in the background (refresh-ahead), so under steady traffic no request waits for the lookups (two
ClickHouse reads, ~5 ms, which every 2 s fell on one request: docs/PERFORMANCE.md).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from carthouse.admin_token import ADMIN_TOKEN_METADATA, OPERATOR_APPSPACE_METADATA
from carthouse.cache import TtlCache
from carthouse.errors import NotFound, PermissionDenied, Unauthenticated
from carthouse.tenancy.keys import key_matches, parse_key
from carthouse.tenancy.repository import Appspace, KeyRecord, TenancyRepository

CACHE_SECONDS = 2.0
log = logging.getLogger("carthouse.auth")

MISSING_KEY = "API key required"
INVALID_KEY = "Invalid API key"
REVOKED_KEY = "API key has been revoked"
SECRET_REQUIRED = "Secret key required"
INVALID_ADMIN_TOKEN = "Invalid admin token"

@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the appspace and the kind of key it used."""

    appspace: Appspace
    key_kind: str

    @property
    def is_secret(self) -> bool:
        return self.key_kind == "secret"

    def require_secret(self) -> None:
        if not self.is_secret:
            raise PermissionDenied(SECRET_REQUIRED)


def key_from_metadata(metadata: Iterable[tuple[str, str | bytes]]) -> str:
    headers = {name.lower(): value for name, value in metadata if isinstance(value, str)}
    if headers.get("x-api-key"):
        return headers["x-api-key"].strip()
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return ""


class Authenticator:
    """API keys for applications; for the operator's CLI, the admin token plus x-appspace-id act with an
    appspace's secret-key rights (the gateway never forwards x-admin-token, so this is gRPC-only)."""

    def __init__(
        self, repository: TenancyRepository, cache_seconds: float = CACHE_SECONDS, admin_token: str = ""
    ) -> None:
        self._keys: TtlCache[str, KeyRecord | None] = TtlCache(repository.get_key, cache_seconds)
        self._appspaces: TtlCache[str, Appspace | None] = TtlCache(repository.get_appspace, cache_seconds)
        self._admin_token = admin_token.encode()

    def appspace(self, appspace_id: str) -> Appspace | None:
        return self._appspaces.get(appspace_id)

    def authenticate(self, metadata: Iterable[tuple[str, str | bytes]], body_key: str = "") -> Principal:
        metadata = list(metadata)
        operator = self._operator(metadata)
        if operator is not None:
            return operator
        raw = key_from_metadata(metadata) or body_key.strip()
        if not raw:
            raise Unauthenticated(MISSING_KEY)
        parsed = parse_key(raw)
        record = self._keys.get(parsed.key_id) if parsed else None
        if record is None or parsed is None or not key_matches(raw, record.key_hash):
            raise Unauthenticated(INVALID_KEY)
        if record.revoked_at:
            raise Unauthenticated(REVOKED_KEY)
        appspace = self.appspace(record.appspace_id)
        if appspace is None:
            raise Unauthenticated(INVALID_KEY)
        return Principal(appspace=appspace, key_kind=record.kind)

    def _operator(self, metadata: list[tuple[str, str | bytes]]) -> Principal | None:
        headers = {name.lower(): value for name, value in metadata if isinstance(value, str)}
        if ADMIN_TOKEN_METADATA not in headers or OPERATOR_APPSPACE_METADATA not in headers:
            return None
        offered = headers[ADMIN_TOKEN_METADATA].encode()
        if not self._admin_token or not hmac.compare_digest(offered, self._admin_token):
            raise Unauthenticated(INVALID_ADMIN_TOKEN)
        appspace_id = headers[OPERATOR_APPSPACE_METADATA]
        appspace = self.appspace(appspace_id)
        if appspace is None:
            raise NotFound(f"Appspace not found: {appspace_id}")
        return Principal(appspace=appspace, key_kind="secret")
