"""Share links: a read-only dashboard session for an appspace, made by the operator. The session holds a secret key
created for the link, so revoking the link also revokes the key (and an expired link's key reads nothing without
the session it lived in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import redis

from carthouse.dashboard_sessions import Session, new_token, redis_key
from carthouse.errors import InvalidArgument
from services.admin.appspaces import AppspaceAdmin

MAX_SECONDS = 365 * 24 * 3600


@dataclass(frozen=True)
class ShareLink:
    token: str
    expires_at: datetime
    key_id: str


def create(admin: AppspaceAdmin, client: redis.Redis, appspace_id: str, seconds: int, now: datetime) -> ShareLink:
    if not 1 <= seconds <= MAX_SECONDS:
        raise InvalidArgument(f"expires_in_seconds must be between 1 and {MAX_SECONDS}")
    key = admin.create_key(appspace_id, "secret")
    token = new_token()
    client.set(redis_key(token), Session(key.api_key, share_key_id=key.record.key_id).encode(), ex=seconds)
    return ShareLink(token=token, expires_at=now + timedelta(seconds=seconds), key_id=key.record.key_id)


def revoke(admin: AppspaceAdmin, client: redis.Redis, token: str) -> bool:
    """End the link named by ``token`` (or by a whole link ending in it); False when none is live."""
    token = token.rstrip("/").rsplit("/", 1)[-1]
    raw = client.get(redis_key(token))
    if raw is None:
        return False
    session = Session.decode(raw)
    client.delete(redis_key(token))
    if session.share_key_id:
        admin.revoke_key(session.share_key_id)
    return True
