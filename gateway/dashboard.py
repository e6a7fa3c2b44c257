"""The dashboard's side of the gateway: its static files, and sessions that let a browser read the API with a
cookie instead of a key.

Signing in exchanges an appspace's secret key for a random session token: the key stays in Redis for the
session's lifetime (only a hash of the token names it), the browser keeps an HttpOnly, SameSite=Strict cookie and
never the key. The dashboard reads the API under /dashboard/api/ (the same routes), where the gateway sends the
session's key upstream for GET routes only: a session reads, it never sends events, deletes or administers; the
API's own paths never take a cookie.
"""

from __future__ import annotations

import re
from pathlib import Path

import redis.asyncio as aioredis

from carthouse.dashboard_sessions import Session, new_token, redis_key
from gateway.assets import IMMUTABLE, REVALIDATE, StaticFile, installed, read_asset

SESSION_COOKIE = "carthouse_session"
SESSION_PATH = "/dashboard/session"
# A share link: /dashboard/share/<token> sets that session's cookie.
SHARE_PREFIX = "/dashboard/share/"
# The API as the dashboard reads it: /dashboard/api/v1/... is /v1/... with the session's key (GET only).
API_PREFIX = "/dashboard/api"
DEFAULT_SESSION_SECONDS = 12 * 3600
READ_ONLY = "A dashboard session can only read; send an API key to do more"
NOT_SIGNED_IN = "Not signed in"
KEY_REQUIRED = "key is required"
# The dashboard's own files (plain HTML, CSS and ES modules, no build step).
STATIC_ROOT = Path(__file__).resolve().parent / "static"
# Libraries from the npm registry, pinned by package-lock.json, served as they are installed.
NODE_MODULES = installed("node_modules")
VENDOR = {"uplot.js": NODE_MODULES / "uplot/dist/uPlot.esm.js", "uplot.css": NODE_MODULES / "uplot/dist/uPlot.min.css"}


class Sessions:
    """Dashboard sessions in Redis (carthouse/dashboard_sessions.py), sign-ins expiring after ``ttl_seconds``."""

    def __init__(self, client: aioredis.Redis, ttl_seconds: int = DEFAULT_SESSION_SECONDS) -> None:
        self._client = client
        self.ttl_seconds = ttl_seconds

    async def create(self, api_key: str) -> str:
        token = new_token()
        await self._client.set(redis_key(token), Session(api_key).encode(), ex=self.ttl_seconds)
        return token

    async def get(self, token: str) -> Session | None:
        raw = await self._client.get(redis_key(token)) if token else None
        return Session.decode(raw) if raw else None

    async def seconds_left(self, token: str) -> int:
        return max(0, int(await self._client.ttl(redis_key(token))))

    async def end(self, token: str) -> None:
        """Sign out: a sign-in's session ends; a share link's lives on (only its revocation ends it)."""
        session = await self.get(token)
        if session is not None and not session.share_key_id:
            await self._client.delete(redis_key(token))


def session_token(cookie_header: bytes) -> str:
    """The session token in a Cookie header, or ""."""
    for part in cookie_header.decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE:
            return value
    return ""


def set_cookie(token: str, max_age: int, secure: bool) -> tuple[bytes, bytes]:
    """The Set-Cookie header for ``token`` (an empty token with max_age 0 removes the cookie)."""
    attributes = f"{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict"
    return b"set-cookie", (attributes + ("; Secure" if secure else "")).encode()


# An asset of our own in the page: its ?v= becomes the file's content hash.
_OWN_ASSET = re.compile(r"/dashboard/(?P<name>[\w-]+\.(?:js|css))\?v=[\w.]+")


def _page() -> StaticFile:
    """index.html, each of our assets in it named with its content's hash, so that a year's caching of the
    asset never serves an old one to a new page (uPlot's files carry its version)."""
    def versioned(match: re.Match[str]) -> str:
        asset = read_asset(STATIC_ROOT / match["name"], IMMUTABLE)
        return f"/dashboard/{match['name']}?v={asset.digest if asset else '0'}"

    page = read_asset(STATIC_ROOT / "index.html", REVALIDATE)
    assert page is not None, "the dashboard's index.html is part of the package"
    return StaticFile(_OWN_ASSET.sub(versioned, page.body.decode()).encode(), page.content_type, REVALIDATE)


def static_file(name: str, versioned: bool) -> StaticFile | None:
    """A file of the dashboard (``name`` under /dashboard/), or None. Versioned requests (``?v=``, which the page
    adds to its assets) may be cached for a year; the page itself is revalidated every time."""
    if name in ("", "index.html"):
        return _page()
    if name.startswith("vendor/") and name.removeprefix("vendor/") in VENDOR:
        path = VENDOR[name.removeprefix("vendor/")]
    else:
        path = (STATIC_ROOT / name).resolve()
        if STATIC_ROOT not in path.parents or not path.is_file():
            return None
    return read_asset(path, IMMUTABLE if versioned and path.name != "index.html" else REVALIDATE)
