"""Dashboard sessions as they are kept in Redis, shared by the gateway (sign-in, the cookie) and AdminService
(share links): a random token names a session by its hash only; the session holds the secret key it reads with.

A share link is a session made by the operator (`carthouse dashboard share`) with a key created for it: opening
the link sets that session's cookie, revoking it removes the session and revokes its key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass


def redis_key(token: str) -> str:
    return "dashboard:session:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    api_key: str
    # The key created for a share link (revoked with it); "" for a sign-in.
    share_key_id: str = ""

    def encode(self) -> str:
        return json.dumps({"api_key": self.api_key, "share_key_id": self.share_key_id})

    @classmethod
    def decode(cls, raw: str | bytes) -> Session:
        data = json.loads(raw)
        return cls(api_key=data["api_key"], share_key_id=data.get("share_key_id", ""))
