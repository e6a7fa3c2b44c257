"""Files the gateway serves as they are: the dashboard's, the browser libraries it uses, and the tracker.

They are found beside the sources (a checkout), else in the working directory (the container's /app).
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
# A year: for paths that change whenever their content does (a version in the path or the query).
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"no-cache"


def installed(relative: str) -> Path:
    """``relative`` (e.g. node_modules, build/sdk) in the checkout, else in the working directory."""
    return next((base / relative for base in (CHECKOUT, Path.cwd()) if (base / relative).exists()), Path(relative))


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: bytes
    cache_control: bytes
    digest: str = ""  # the first 12 hex digits of the body's SHA-256: its version in a URL


def read_asset(path: Path, cache_control: bytes) -> StaticFile | None:
    """The file with its content type (text as UTF-8), or None when there is none. Read once per version of the
    file (its modification time): every shop page asks for the tracker, every dashboard load for the page."""
    try:
        modified = path.stat().st_mtime_ns
    except OSError:
        return None
    return _read(path, modified, cache_control) if path.is_file() else None


@functools.lru_cache(maxsize=64)
def _read(path: Path, modified: int, cache_control: bytes) -> StaticFile:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or path.suffix == ".js":
        content_type = ("text/javascript" if path.suffix == ".js" else content_type) + "; charset=utf-8"
    body = path.read_bytes()
    return StaticFile(body, content_type.encode(), cache_control, hashlib.sha256(body).hexdigest()[:12])


# The browser tracker (sdk/js), built by `npm run build:tracker` (make does it). /sdk/carthouse.js is cached
# for an hour, so that sites get a new release within one; /sdk/<version>/carthouse.js for a year.
TRACKER_PATH = "/sdk/carthouse.js"
TRACKER_CACHE = b"public, max-age=3600"


def tracker_version() -> str:
    manifest = installed("sdk/js/package.json")
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else ""


def tracker_file(path: str, version: str) -> StaticFile | None:
    """The tracker at ``path`` (/sdk/carthouse.js or /sdk/<version>/carthouse.js), or None."""
    built = installed("build/sdk/carthouse.js")
    if path == TRACKER_PATH:
        return read_asset(built, TRACKER_CACHE)
    if version and path == f"/sdk/{version}/carthouse.js":
        return read_asset(built, IMMUTABLE)
    return None
