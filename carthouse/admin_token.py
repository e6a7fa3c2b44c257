"""The admin token that guards AdminService: CARTHOUSE_ADMIN_TOKEN, else a file in the data dir (0600)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from carthouse.config import Settings

TOKEN_FILE = "admin_token"
# gRPC metadata carrying the token; the REST gateways never forward it.
ADMIN_TOKEN_METADATA = "x-admin-token"
# With the token, the appspace an operator acts for on AnalyticsService (e.g. `carthouse fraud list`).
OPERATOR_APPSPACE_METADATA = "x-appspace-id"


def token_path(settings: Settings) -> Path:
    return settings.data_dir / TOKEN_FILE


def ensure_admin_token(settings: Settings) -> str:
    """Used by the server at start-up: creates the token file on first start."""
    if settings.admin_token:
        return settings.admin_token
    path = token_path(settings)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return token


def read_admin_token(settings: Settings) -> str:
    """Used by the CLI: never creates one."""
    if settings.admin_token:
        return settings.admin_token
    path = token_path(settings)
    if not path.exists():
        raise FileNotFoundError(
            f"no admin token at {path}: start the stack first (make run) or set CARTHOUSE_ADMIN_TOKEN"
        )
    return path.read_text().strip()
