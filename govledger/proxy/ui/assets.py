"""The UI's static files, each served under a URL that carries a hash of its content."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui/static"
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE, VERSION
}


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, media type and content hash."""

    name: str
    body: bytes
    media_type: str
    digest: str

    @property
    def url(self) -> str:
        """Where it is served: a new content is a new URL, so it may be cached for good."""
        return f"{PREFIX}/{self.digest}/{self.name}"


def fingerprint(body: bytes) -> str:
    """The first 16 hex digits of the content's SHA-256."""
    return hashlib.sha256(body).hexdigest()[:16]


def media_type(name: str) -> str:
    """The Content-Type a file is served with."""
    suffix = Path(name).suffix
    return TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


class Assets:
    """Every file under the static folder, read once at start."""

    def __init__(self, root: Path = STATIC) -> None:
        self.by_name: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file():
                name = path.relative_to(root).as_posix()
                body = path.read_bytes()
                self.by_name[name] = Asset(name, body, media_type(name), fingerprint(body))

    def url(self, name: str) -> str:
        """The fingerprinted URL of a file (KeyError for a file that is not there)."""
        return self.by_name[name].url

    def find(self, digest: str, name: str) -> Asset | None:
        """The file a fingerprinted URL names, or None if its hash is not the current one."""
        asset = self.by_name.get(name)
        return asset if asset is not None and asset.digest == digest else None
