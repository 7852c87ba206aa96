"""GraphiQL served from the installation, not from a CDN.

Strawberry's page (``strawberry/static/graphiql.html``) loads React, ReactDOM, js-cookie,
GraphiQL and its explorer plugin from unpkg.com at pinned versions, so without internet
it stays a blank "Loading...". The same files, fetched from the npm registry at exactly
those versions (``make graphiql-assets``: :mod:`api.graphql.graphiql_vendor`), are committed
under ``api/web/static/graphiql/`` (its README.md says where each came from) and served as hashed
``/static/`` assets with year-long caching. :func:`page` is Strawberry's page with each
CDN URL replaced by the local one and its SRI hash computed from the local bytes, so a
Strawberry upgrade that pins other files fails loudly (:class:`MissingAsset`) instead of
serving a page that cannot load.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from strawberry.http.ides import get_graphql_ide_html

if TYPE_CHECKING:
    from api.web.assets import Assets

DIRECTORY = "graphiql"
"""Where the vendored files live, under api/web/static/."""

_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.S)
_REF = re.compile(r'\b(?:src|href)="([^"]+)"')
_INTEGRITY = re.compile(r'\bintegrity="([^"]*)"')
_ELSEWHERE = re.compile(r'\b(?:src|href)="((?:https?:)?//[^"]*)"')
_CDN = re.compile(
    r"https://unpkg\.com/(?P<package>(?:@[\w.-]+/)?[\w.-]+)@(?P<version>\d[\w.+-]*)/(?P<path>\S+)"
)


class MissingAsset(RuntimeError):
    """Strawberry's page references a file that is not vendored."""


@dataclass(frozen=True, slots=True)
class CdnFile:
    """One file Strawberry's page loads from the CDN, as its ``<script>``/``<link>`` says."""

    url: str
    package: str
    version: str
    path: str  # inside the npm package: "umd/react.production.min.js"
    integrity: str | None  # the page's SRI value, "sha384-..."

    @property
    def name(self) -> str:
        """Its file under api/web/static/: ``graphiql/graphiql-plugin-explorer-index.umd.js``."""
        package = self.package.lstrip("@").replace("/", "-")
        return f"{DIRECTORY}/{package}-{PurePosixPath(self.path).name}"


def template() -> str:
    """Strawberry's GraphiQL page as it ships."""
    return get_graphql_ide_html(graphql_ide="graphiql")


def _tags(html: str) -> Iterator[tuple[re.Match[str], CdnFile]]:
    for tag in _TAG.finditer(html):
        ref = _REF.search(tag[0])
        cdn = _CDN.fullmatch(ref[1]) if ref else None
        if cdn is not None:
            integrity = _INTEGRITY.search(tag[0])
            yield (
                tag,
                CdnFile(
                    cdn[0], cdn["package"], cdn["version"], cdn["path"], integrity and integrity[1]
                ),
            )


def cdn_files(html: str | None = None) -> list[CdnFile]:
    """The CDN files of the page (Strawberry's by default), in page order."""
    return [file for _, file in _tags(template() if html is None else html)]


def asset_names() -> tuple[str, ...]:
    """The vendored files the page needs, as names under api/web/static/."""
    return tuple(dict.fromkeys(file.name for file in cdn_files()))


def sri(body: bytes) -> str:
    """The Subresource Integrity value of ``body`` (sha384, as the page uses)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


@lru_cache(maxsize=1)
def page(assets: Assets) -> str:
    """Strawberry's page loading every script and style from ``assets`` (the app's)."""
    html = template()
    parts: list[str] = []
    end = 0
    for tag, file in _tags(html):
        asset = assets.source(file.name)
        if asset is None:
            raise MissingAsset(
                f"GraphiQL needs {file.url}, which is not vendored as api/web/static/"
                f"{file.name}: run `make graphiql-assets`"
            )
        local = tag[0].replace(file.url, asset.url)
        local = _INTEGRITY.sub(f'integrity="{sri(asset.body)}"', local)
        parts += [html[end : tag.start()], local]
        end = tag.end()
    html = "".join([*parts, html[end:]])
    elsewhere = _ELSEWHERE.search(html)
    if elsewhere is not None:
        raise MissingAsset(f"GraphiQL's page still loads {elsewhere[1]!r} from another origin")
    return html
