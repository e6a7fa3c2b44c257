"""API key format: ``ck_<pub|sec>_<key_id>_<secret>``. Only a SHA-256 of the whole key is stored.

The key id is public and used to find the record; the hash is then compared in constant time.
Keys carry 190 bits of randomness, so a fast hash is enough (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

KINDS = {"pub": "publishable", "sec": "secret"}
PREFIXES = {kind: prefix for prefix, kind in KINDS.items()}
_ALPHABET = string.ascii_letters + string.digits


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def new_appspace_id() -> str:
    return "as_" + random_token(16)


@dataclass(frozen=True)
class ParsedKey:
    kind: str
    key_id: str


def generate_key(kind: str) -> tuple[str, str]:
    """(full key, key id) for a new publishable or secret key."""
    key_id = random_token(12)
    return f"ck_{PREFIXES[kind]}_{key_id}_{random_token(32)}", key_id


def parse_key(raw: str) -> ParsedKey | None:
    parts = raw.split("_")
    if len(parts) != 4 or parts[0] != "ck" or parts[1] not in KINDS:
        return None
    if len(parts[2]) != 12 or len(parts[3]) != 32:
        return None
    return ParsedKey(kind=KINDS[parts[1]], key_id=parts[2])


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def key_matches(raw: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(raw), stored_hash)
