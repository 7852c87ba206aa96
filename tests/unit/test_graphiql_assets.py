"""GraphiQL's vendored files (api/web/static/graphiql/) are exactly what Strawberry's page
pins, are listed in the README with their SHA-256, and the page served loads only them;
the media-type negotiation of GraphQL over HTTP (no server needed)."""

from __future__ import annotations

import hashlib
import re

import pytest
from graphql import GraphQLError

from api.graphql import graphiql
from api.graphql.graphiql_vendor import README
from api.graphql.media import GRAPHQL_RESPONSE, JSON, not_executed, response_type, status_of
from api.web.assets import STATIC_DIR, Assets


def test_every_cdn_file_is_vendored_as_the_page_pins_it() -> None:
    files = graphiql.cdn_files()
    assert {f.package for f in files} >= {"react", "react-dom", "graphiql"}
    for file in files:
        path = STATIC_DIR / file.name
        assert path.is_file(), f"{file.url} is not vendored: run `make graphiql-assets`"
        assert file.integrity is not None, file.url
        assert graphiql.sri(path.read_bytes()) == file.integrity, file.url


def test_readme_records_each_file_with_its_sha256() -> None:
    text = README.read_text(encoding="utf-8")
    vendored = sorted(p.name for p in README.parent.iterdir() if p != README)
    assert vendored == sorted(n.split("/")[-1] for n in graphiql.asset_names())
    for name in vendored:
        digest = hashlib.sha256((README.parent / name).read_bytes()).hexdigest()
        row = next((line for line in text.splitlines() if f"`{name}`" in line), None)
        assert row is not None, f"README.md has no row for {name}"
        assert digest in row, f"README.md has another sha256 for {name}"
        assert re.search(r"\| \d+\.\d+\.\d+ \|", row), row  # the version


def test_page_loads_every_script_and_style_from_the_app() -> None:
    assets = Assets()
    html = graphiql.page(assets)
    assert "unpkg.com" not in html
    refs = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="(/static/[^"]+)"', html)
    assert sorted(refs) == sorted(assets.urls[n] for n in graphiql.asset_names())
    for ref in refs:
        asset, cache = assets.find(ref.removeprefix("/static/")) or (None, "")
        assert asset is not None, ref
        assert "immutable" in cache, ref
        assert f'integrity="{graphiql.sri(asset.body)}"' in html, ref


def test_a_file_missing_from_the_vendored_set_is_named() -> None:
    with pytest.raises(graphiql.MissingAsset, match=re.escape("react-react.production.min.js")):
        graphiql.page(Assets(("app.css",)))


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", JSON),
        (f"application/json;q=0.9, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0.5, */*", JSON),
        ("text/html", JSON),  # nothing offered is named: the legacy answer
        (";;;,,=q", JSON),
        ("application/json;q=abc", JSON),
    ],
)
def test_response_type(accept: str | None, expected: str) -> None:
    assert response_type(accept) == expected


def test_refused_before_execution_only_without_data_and_paths() -> None:
    parse = GraphQLError("Syntax Error", extensions={"code": "BAD_USER_INPUT"})
    field = GraphQLError("boom", path=["search"], extensions={"code": "UNAVAILABLE"})
    assert not_executed(None, [parse])
    assert not not_executed(None, [field])  # a field error made data null: it ran
    assert not not_executed({"search": None}, [parse])
    assert not not_executed(None, [])
    assert status_of([parse]) == 400
    assert status_of([GraphQLError("slow", extensions={"code": "UNAVAILABLE"})]) == 503
    assert status_of([GraphQLError("?")]) == 500
