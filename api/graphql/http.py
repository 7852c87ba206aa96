"""The /graphql route: Strawberry's Litestar controller, with errors always as JSON.

Strawberry answers HTTP-level problems (a body that is not JSON, no query, a mutation
over GET) with plain text, and fails with a 500 on JSON it did not expect; this
controller reads the request's JSON with limits (:mod:`api.graphql.body`) and answers
every such problem as a GraphQL error document with ``extensions.code`` so clients parse
one format. Result errors are classified again here as a safety net (``classify`` is
idempotent).

Answers are ``application/json`` or, when the client prefers it,
``application/graphql-response+json`` with the spec's status codes (:mod:`api.graphql.media`).
GraphiQL's page loads its scripts from the API itself (:mod:`api.graphql.graphiql`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cross_web import HTTPException
from litestar import Request, Response
from litestar.enums import MediaType
from strawberry.http import GraphQLHTTPResponse, process_result
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import GraphQLController
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from api.graphql import body, graphiql
from api.graphql.context import Context
from api.graphql.errors import BAD_USER_INPUT, classify_all
from api.graphql.media import GRAPHQL_RESPONSE, JSON, not_executed, response_type, status_of
from api.graphql.schema import ApiSchema

if TYPE_CHECKING:
    from api.web.assets import Assets

# Per-request facts in ``request.state``: the negotiated media type, and the status of a
# request refused before execution (set by process_result, applied by execute_request).
_MEDIA_TYPE = "graphql_media_type"
_REFUSED = "graphql_refused_status"


def error_document(message: str, code: str = BAD_USER_INPUT, **extra: Any) -> dict[str, Any]:
    """``{"errors": [{"message", "extensions": {"code", ...}}]}``."""
    return {"errors": [{"message": message, "extensions": {"code": code, **extra}}]}


async def context_getter(api_context: Any) -> Context:
    """Hands the app's per-request Context (a Litestar dependency) to Strawberry.

    Typed ``Any`` on purpose: Litestar would otherwise try to validate the Struct's
    fields (services, pools) as data."""
    context: Context = api_context
    return context


def graphql_controller(schema: ApiSchema, path: str = "/graphql") -> type[GraphQLController]:
    base: Any = make_graphql_controller(
        schema,
        path=path,
        context_getter=context_getter,
        graphql_ide="graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),  # the alerts subscription
    )

    class Controller(base):  # type: ignore[misc]  # a class built at run time
        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[Any]:
            media_type = response_type(request.headers.get("accept"))
            request.state[_MEDIA_TYPE] = media_type
            try:
                response: Response[Any] = await self.run(
                    request, context=context, root_value=root_value
                )
            except HTTPException as exc:
                return Response(
                    error_document(exc.reason),
                    status_code=exc.status_code,
                    media_type=media_type,
                )
            if media_type == GRAPHQL_RESPONSE and response.media_type == JSON:
                response.media_type = GRAPHQL_RESPONSE
                refused = request.state.get(_REFUSED)
                if refused is not None and response.status_code == 200:
                    response.status_code = refused
            return response

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[str]:
            """GraphiQL with its scripts and styles served by this app (no CDN)."""
            assets: Assets = request.app.state.web_assets
            return Response(
                graphiql.page(assets),
                media_type=MediaType.HTML,
                headers={"cache-control": "no-cache"},
            )

        def parse_json(self, data: str | bytes) -> Any:
            """Request JSON read with limits (api.graphql.body): hostile JSON is a 400."""
            try:
                return body.decode(data)
            except body.BodyRefused as exc:
                raise HTTPException(400, exc.message) from None

        async def process_result(
            self, request: Any, result: ExecutionResult
        ) -> GraphQLHTTPResponse:
            result.errors = classify_all(result.errors)
            processed = process_result(result)
            state = request.state
            if state.get(_MEDIA_TYPE) == GRAPHQL_RESPONSE and not_executed(
                result.data, result.errors
            ):
                assert result.errors is not None  # not_executed: there are some
                processed.pop("data", None)  # the spec: not run, so no data entry
                state[_REFUSED] = status_of(result.errors)
            return processed

    return Controller
