"""The GraphQL layer without a stack: SDL drift, error codes, limits, admin, mapping.

Small in-test fakes stand in for the search service; the real path is covered by
tests/integration/test_api.py and tests/e2e/test_query_e2e.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from api.cache.stats import CacheStats
from api.graphql.context import Context
from api.graphql.errors import INTERNAL, UNAUTHENTICATED
from api.graphql.export import SCHEMA_FILE, main
from api.graphql.inputs import embedding_text, input_field
from api.graphql.schema import DOCUMENT_CACHE_SIZE, build_schema, sdl
from api.graphql.types import EmploymentType, EnglishLevel, RemoteMode
from api.metrics import operation_label, root_fields
from api.service import BadInput, edge_cursor, normalise_query, split_cursor
from schemas import domain
from schemas.auth import KeyRing, Scope
from schemas.errors import UnauthenticatedError
from schemas.settings import Settings


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == sdl(), "run: python -m api.graphql.export"
    assert main(["--check"]) == 0


def test_graphql_enums_mirror_the_domain() -> None:
    for ours, theirs in [
        (RemoteMode, domain.RemoteMode),
        (EmploymentType, domain.EmploymentType),
        (EnglishLevel, domain.EnglishLevel),
    ]:
        assert [m.name for m in ours] == [m.name for m in theirs]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Python  Backend\tDeveloper ", "python backend developer"),
        ("\uff30\uff39\uff34\uff28\uff2f\uff2e", "python"),  # NFKC folds full-width letters
        ("Straße", "strasse"),  # casefold, not lower
        ("\n a \u00a0 b \n", "a b"),
    ],
)
def test_query_normalisation(text: str, key: str) -> None:
    assert normalise_query(text) == key


def test_edge_cursors_round_trip_and_garbage_is_bad_input() -> None:
    assert split_cursor(None) == (None, 0)
    assert split_cursor("repo-cursor") == ("repo-cursor", 0)
    assert split_cursor(edge_cursor("abc", 3)) == ("abc", 3)
    assert split_cursor(edge_cursor(None, 1)) == (None, 1)
    for garbage in ["e1:!!!", "e1:" + "x" * 10, "e1:WyJhIiwtMV0"]:
        with pytest.raises(BadInput) as info:
            split_cursor(garbage)
        assert info.value.field == "after"


def test_admin_token_check() -> None:
    with pytest.raises(UnauthenticatedError, match="JOBSTREAM_ADMIN_TOKEN"):
        context(None).keys.authorize("Bearer x", Scope.ADMIN)
    keys = context("s3cret").keys
    for header in [None, "", "Basic abc", "Bearer ", "Bearer wrong", "bearer s3cretX"]:
        with pytest.raises(UnauthenticatedError):
            keys.authorize(header, Scope.ADMIN)
    keys.authorize("Bearer s3cret", Scope.ADMIN)
    keys.authorize("bearer  s3cret ", Scope.ADMIN)


def test_input_field_names_and_embedding_text() -> None:
    assert input_field("location.country_code") == "countryCode"
    assert input_field("experience_min_years") == "experienceMinYears"
    assert input_field("salary.min") == "salary.min"
    assert input_field("skills[2]") == "skills[2]"
    text = embedding_text(" Python Dev ", ["python", "sql"], " Build APIs. ")
    assert text == "Python Dev. Skills: python, sql. Build APIs."
    assert len(embedding_text("t", [], "word " * 500).split()) == 200


def test_operation_label_uses_root_fields() -> None:
    from graphql import parse

    known = root_fields(build_schema()._schema)
    assert {"search", "posting", "publishPosting", "__schema"} <= known
    doc = parse('query A { search(query: "x") { pageInfo { hasNextPage } } cacheStats { hits } }')
    assert operation_label(doc, None, known) == "cacheStats+search"
    assert operation_label(doc, "B", known) == "invalid"
    assert operation_label(None, None, known) == "invalid"
    assert operation_label(parse("{ zz1 search { id } }"), None, known) == "other"


# --- the schema executed against fakes ---------------------------------------------


class FakeCache:
    def stats(self) -> CacheStats:
        return CacheStats(
            l1_hits=3, l1_misses=1, l2_hits=1, l2_misses=0, generation=3, redis_healthy=False
        )

    def clear_l1(self) -> int:
        return 7


class ExplodingService:
    async def posting(self, posting_id: str) -> Any:
        raise RuntimeError("password=hunter2 in /srv/secret.py")


class FakeRequest:
    def __init__(self, headers: dict[str, str]) -> None:
        self.headers = headers


def context(token: str | None = "s3cret", headers: dict[str, str] | None = None) -> Context:
    settings = Settings(admin_token=None if token is None else SecretStr(token))
    keys = KeyRing(settings, "test")
    keys._loaded.set()  # no keys on the topic: the bootstrap token only
    ctx = Context(
        settings=settings,
        service=ExplodingService(),  # type: ignore[arg-type]
        cache=FakeCache(),  # type: ignore[arg-type]
        writer=None,  # type: ignore[arg-type]
        keys=keys,
        embedder=None,  # type: ignore[arg-type]
    )
    ctx.request = FakeRequest(headers or {})  # type: ignore[assignment]
    return ctx


async def test_unexpected_errors_are_masked_with_a_correlation_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    result = await build_schema().execute('{ posting(id: "a") { id } }', context_value=context())
    assert result.errors is not None
    (error,) = result.errors
    assert error.extensions is not None
    assert error.extensions["code"] == INTERNAL
    assert "hunter2" not in error.message
    assert "secret" not in error.message
    assert error.extensions["correlationId"] in error.message
    formatted = str(error.formatted)
    assert "Traceback" not in formatted
    assert "hunter2" not in formatted


async def test_parse_and_validation_errors_are_bad_user_input() -> None:
    schema = build_schema(max_depth=3)
    for query in [
        "{ search(query: ",
        "{ nope }",
        '{ search(query: "x") { edges { node { similar { node { id } } } } } }',
    ]:
        result = await schema.execute(query, context_value=context())
        assert result.errors, query
        assert {e.extensions["code"] for e in result.errors if e.extensions} == {"BAD_USER_INPUT"}
    result = await schema.execute(
        '{ search(query: "x") { edges { node { similar { node { id } } } } } }',
        context_value=context(),
    )
    assert result.errors is not None
    assert "maximum operation depth of 3" in result.errors[0].message


@pytest.mark.parametrize(
    ("token", "headers", "ok"),
    [
        (None, {"authorization": "Bearer s3cret"}, False),
        ("s3cret", {}, False),
        ("s3cret", {"authorization": "Bearer nope"}, False),
        ("s3cret", {"authorization": "Bearer s3cret"}, True),
    ],
)
async def test_admin_mutation(token: str | None, headers: dict[str, str], ok: bool) -> None:
    result = await build_schema().execute(
        "mutation { cacheFlush { cleared } }", context_value=context(token, headers)
    )
    if ok:
        assert result.errors is None
        assert result.data == {"cacheFlush": {"cleared": 7}}
    else:
        assert result.errors is not None
        assert result.errors[0].extensions == {"code": UNAUTHENTICATED}


async def test_cache_stats_shape() -> None:
    result = await build_schema().execute(
        "{ cacheStats { hits misses hitRate generation redisHealthy"
        " levels { level hits misses } } }",
        context_value=context(),
    )
    assert result.errors is None
    stats = result.data["cacheStats"]  # type: ignore[index]
    assert stats["hits"] == 4
    assert stats["misses"] == 0
    assert stats["generation"] == 3
    assert stats["redisHealthy"] is False
    assert stats["levels"][1] == {"level": "l2", "hits": 1, "misses": 0}


async def test_a_repeated_document_is_parsed_and_validated_once() -> None:
    """Parse + validate cost five times a cached search: the caches must hit across
    requests, which needs the depth rule to be the same object every time."""
    from strawberry.extensions.parser_cache import _get_parse_cache
    from strawberry.extensions.validation_cache import _get_validate_cache

    parse, validate = (
        _get_parse_cache(DOCUMENT_CACHE_SIZE),
        _get_validate_cache(DOCUMENT_CACHE_SIZE),
    )
    schema = build_schema()
    query = "query Repeated { cacheStats { generation } __typename }"
    await schema.execute(query, context_value=context())
    before = parse.cache_info().hits, validate.cache_info().hits
    for _ in range(3):
        await schema.execute(query, context_value=context())
    after = parse.cache_info().hits, validate.cache_info().hits
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
