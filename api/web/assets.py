"""Static assets (CSS, JS) served under content-hashed names with year-long caching.

The files are small and read once at import of the app: the URL carries the first 10
hex digits of the content's SHA-256 (``/static/app.3f2a…css``), so a deploy that changes
a file changes its URL and browsers may keep every version forever (``immutable``).
The unhashed name answers too, with a short cache and an ETag, for hand-typed URLs.
GraphiQL's vendored files (static/graphiql/, see :mod:`api.graphql.graphiql`) are served the
same way, under their file names.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from api.graphql import graphiql

STATIC_DIR = Path(__file__).resolve().parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    name: str  # "app.css"
    hashed: str  # "app.0123456789.css"
    body: bytes
    etag: str
    media_type: str

    @property
    def url(self) -> str:
        return "/static/" + self.hashed


WEB_FILES = ("app.css", "app.js", "icon.svg")


def _load(source: str) -> Asset:
    """The file ``source`` (a path under static/), served under its file name."""
    body = (STATIC_DIR / source).read_bytes()
    digest = hashlib.sha256(body).hexdigest()
    name = PurePosixPath(source).name
    stem, _, ext = name.rpartition(".")
    return Asset(
        name=name,
        hashed=f"{stem}.{digest[:10]}.{ext}",
        body=body,
        etag=f'"{digest[:20]}"',
        media_type=MEDIA_TYPES["." + ext],
    )


class Assets:
    """The app's static files by served name (hashed and plain) and by source path."""

    def __init__(self, sources: tuple[str, ...] | None = None) -> None:
        if sources is None:
            sources = WEB_FILES + graphiql.asset_names()
        self.by_name: dict[str, Asset] = {}
        self.by_source: dict[str, Asset] = {}
        self.urls: dict[str, str] = {}
        for source in sources:
            asset = _load(source)
            if asset.name in self.by_name:
                raise ValueError(f"two static files are served as {asset.name!r}")
            self.by_name[asset.hashed] = asset
            self.by_name[asset.name] = asset
            self.by_source[source] = asset
            self.urls[source] = asset.url

    def source(self, path: str) -> Asset | None:
        """The asset read from ``path`` (under static/), or None."""
        return self.by_source.get(path)

    def find(self, served: str) -> tuple[Asset, str] | None:
        """The asset for a served name and its Cache-Control value, or None."""
        asset = self.by_name.get(served)
        if asset is None:
            return None
        return asset, LONG_CACHE if served == asset.hashed else SHORT_CACHE
