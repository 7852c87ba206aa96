"""One root for errors a person can act on: every known error has a kind, and each surface
maps kinds (GraphQL ``extensions``, web status codes), never single classes."""

from __future__ import annotations

import pytest
from graphql import GraphQLError

from api.events import EventLogUnavailable
from api.graphql.errors import BadUserInput, Unauthenticated, classify
from api.operations import OperationUnavailable
from api.search import InvalidCursor, InvalidFilter, InvalidQuery
from api.service import BadInput, NotFound
from api.web.params import BadParam, in_url_terms
from schemas.domain import InvalidPosting, RejectReason
from schemas.errors import (
    BadInputError,
    JobStreamError,
    NotFoundError,
    UnauthenticatedError,
    UnavailableError,
)
from schemas.settings import SettingsError, load_settings
from streams.ops.errors import BrokerUnreachable, DatabaseUnreachable, UsageError

KINDS: list[tuple[JobStreamError, type[JobStreamError]]] = [
    (BadInput("first", "too many"), BadInputError),
    (InvalidFilter("city", "city must be text"), BadInputError),
    (InvalidCursor("corrupt"), BadInputError),
    (InvalidQuery("vector", "all zeros"), BadInputError),
    (BadParam("remote", "unknown remote value"), BadInputError),
    (BadUserInput("limit must be >= 0", field="limit"), BadInputError),
    (InvalidPosting(RejectReason.TOO_LONG, "title", "title is too long"), BadInputError),
    (SettingsError("invalid settings", field="JOBSTREAM_API_PORT"), BadInputError),
    (UsageError("--to-offset: expected PARTITION:OFFSET"), BadInputError),
    (NotFound("posting 'a' does not exist"), NotFoundError),
    (Unauthenticated("the admin token is not valid"), UnauthenticatedError),
    (EventLogUnavailable("cannot connect to Kafka"), UnavailableError),
    (OperationUnavailable("no worker answered"), UnavailableError),
    (BrokerUnreachable("127.0.0.1:9092", "timeout"), UnavailableError),
    (DatabaseUnreachable("postgresql://u:secret@db:5432/x", "refused"), UnavailableError),
]


@pytest.mark.parametrize(("error", "kind"), KINDS, ids=lambda v: type(v).__name__)
def test_every_known_error_has_its_kind(error: JobStreamError, kind: type[JobStreamError]) -> None:
    assert isinstance(error, kind)
    assert error.code == kind.code
    assert error.message


def test_the_old_ancestry_still_holds() -> None:
    assert isinstance(BadInput("first", "x"), ValueError)
    assert isinstance(NotFound("x"), LookupError)
    assert isinstance(EventLogUnavailable("x"), RuntimeError)
    assert str(InvalidFilter("city", "city must be text")) == "city: city must be text"
    assert UsageError("bad flag").exit_code == 2
    assert BrokerUnreachable("k:9092", "timeout").exit_code == 3


def test_settings_errors_name_the_variable_as_field() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(api_port=0)
    assert info.value.field == "JOBSTREAM_API_PORT"
    assert info.value.code == "BAD_USER_INPUT"


def _classified(error: Exception) -> GraphQLError:
    return classify(GraphQLError("raw", original_error=error))


@pytest.mark.parametrize(
    ("error", "code", "field"),
    [
        (BadInput("first", "first must be between 1 and 50"), "BAD_USER_INPUT", "first"),
        (
            InvalidFilter("experience_min_years", "bad"),
            "BAD_USER_INPUT",
            "filter.experienceMinYears",
        ),
        (InvalidCursor("corrupt"), "BAD_USER_INPUT", "after"),
        (NotFound("posting 'a' does not exist"), "NOT_FOUND", None),
        (Unauthenticated("the admin token is not valid"), "UNAUTHENTICATED", None),
        (EventLogUnavailable("cannot connect to Kafka"), "UNAVAILABLE", None),
        (OperationUnavailable("no worker answered"), "UNAVAILABLE", None),
    ],
)
def test_graphql_maps_each_kind_once(error: JobStreamError, code: str, field: str | None) -> None:
    classified = _classified(error)
    assert classified.message == error.message
    assert classified.extensions == ({"code": code} | ({"field": field} if field else {}))


def test_web_names_service_errors_by_url_parameter() -> None:
    assert in_url_terms(InvalidFilter("experience_min_years", "bad")).param == "exp_min"
    assert in_url_terms(BadInput("query", "query must contain some text")).param == "q"
    cursor = in_url_terms(InvalidCursor("corrupt"))
    assert (cursor.param, cursor.message) == (
        "after",
        "the page link is out of date or was edited; start again",
    )
    own = BadParam("remote", "unknown remote value 'moon'")
    assert in_url_terms(own) is own
