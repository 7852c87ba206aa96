"""What one GraphQL request may cost, decided before anything runs.

- **Aliases** (``JOBSTREAM_MAX_ALIASES``): without aliases a root field can appear once per
  response key, so the alias count bounds how many searches one document starts. It
  depends on the document alone, so it is a validation rule, and the validation cache
  remembers its verdict per document.
- **Cost** (``JOBSTREAM_MAX_QUERY_COST``): the objects the operation can return. Every
  field of an object type costs one per object it yields; a field with ``first`` yields
  that many (a list such as ``similar``) or sizes its connection's lists (``search`` and
  its ``edges``); the count multiplies down the tree, so ``search(first: 20)`` over
  ``similar(first: 20)`` twice costs 16,841, not 3. Scalars cost nothing (they come with
  their row); lists without ``first`` are bounded by the schema (facet values, cache
  levels) and count once. Fragments count where they are spread and fields merge by
  response key, as execution does. ``first`` comes from a literal, a variable (or its
  default) or the argument's default, capped at ``JOBSTREAM_MAX_PAGE_SIZE`` (a larger one
  is refused by its resolver, with its own message).

  The cost depends on variable values, which validation never sees (and the validation
  cache keys on the document only), so it is computed by the :class:`CostLimit`
  extension in ``on_execute``: after validation (the document is known to be valid),
  before execution (a refused operation runs no resolver). The cost is reported in the
  response's ``extensions.cost`` (``requested`` and ``limit``), as GitHub and Shopify do.
  Walking a document takes 70-160 us, as long as executing a cached search, so
  :class:`CostCache` remembers each cost by document, operation and the values of the
  variables that size lists -- clients send the same few documents again and again.
- **Rate** (``JOBSTREAM_QUERY_COST_PER_TOKEN``): an allowed operation is then billed to its
  client's rate-limit bucket by the ``charge`` the app passes in (:meth:`api.ratelimit.
  RateLimiter.charge`), still before any resolver runs; a refusal is ``RATE_LIMITED`` with
  ``retryAfter``, and the HTTP answer a 429 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from cachetools import LRUCache
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
    get_named_type,
    get_operation_ast,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql.type import (
    GraphQLCompositeType,
    SchemaMetaFieldDef,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
)
from strawberry.extensions import SchemaExtension

from schemas.errors import BAD_USER_INPUT, RATE_LIMITED, RateLimitedError
from schemas.ratelimit import retry_after

PAGE_ARGUMENT = "first"

Charge = Callable[[Any, int], RateLimitedError | None]
"""Bills an operation's cost to the client of an ASGI scope: None, or the refusal."""


def alias_rule(max_aliases: int) -> type[ASTValidationRule]:
    """A validation rule refusing documents with more than ``max_aliases`` aliases.

    Build it once per schema: the validation cache keys on the rule classes."""

    class MaxAliases(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_args: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, *_args: Any) -> None:
            if self.aliases > max_aliases:
                self.report_error(
                    GraphQLError(
                        f"the document has {self.aliases} aliases; the limit is {max_aliases}"
                        " (JOBSTREAM_MAX_ALIASES)",
                        extensions={
                            "code": BAD_USER_INPUT,
                            "aliases": self.aliases,
                            "limit": max_aliases,
                        },
                    )
                )

    return MaxAliases


class _Walk:
    """One cost computation: the document's fragments and the request's variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        max_page: int,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults = {
            d.variable.name.value: d.default_value for d in operation.variable_definitions or ()
        }
        self.variables = variables
        self.max_page = max_page

    def collect(
        self, parent: GraphQLCompositeType, selection_sets: Iterator[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """Field nodes by response key, fragments expanded once each (as execution does)."""
        fields: dict[str, list[FieldNode]] = {}
        visited: set[str] = set()

        def add(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    key = (selection.alias or selection.name).value
                    fields.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    add(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in visited and name in self.fragments:
                        visited.add(name)
                        add(self.fragments[name].selection_set)

        for selection_set in selection_sets:
            add(selection_set)
        return fields

    def cost(
        self,
        parent: GraphQLCompositeType,
        selection_sets: Iterator[SelectionSetNode],
        pending: int | None,
    ) -> int:
        """Cost of the objects below one object of type ``parent``."""
        total = 0
        for nodes in self.collect(parent, selection_sets).values():
            definition = self.field(parent, nodes[0].name.value)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                continue  # scalars and enums come with their object
            first = self.first(definition, nodes[0])
            returns_list = isinstance(_nullable(definition.type), GraphQLList)
            if returns_list:
                count = first if first is not None else (pending or 1)
                below = None
            else:
                count = 1
                below = first  # a connection: its lists hold `first` items
            children = (n.selection_set for n in nodes if n.selection_set is not None)
            total += count * (1 + self.cost(named, children, below))
        return total

    def field(self, parent: GraphQLCompositeType, name: str) -> GraphQLField | None:
        if name == "__typename":
            return TypeNameMetaFieldDef
        if parent is self.schema.query_type:
            if name == "__schema":
                return SchemaMetaFieldDef
            if name == "__type":
                return TypeMetaFieldDef
        fields = getattr(parent, "fields", None)
        return None if fields is None else fields.get(name)

    def first(self, definition: GraphQLField, node: FieldNode) -> int | None:
        """The ``first`` this field runs with, capped at the page-size limit; None when
        the field takes no ``first``."""
        argument = definition.args.get(PAGE_ARGUMENT)
        if argument is None:
            return None
        value: Any = None
        for given in node.arguments or ():
            if given.name.value != PAGE_ARGUMENT:
                continue
            literal = given.value
            if isinstance(literal, VariableNode):
                name = literal.name.value
                default = self.defaults.get(name)
                if name in self.variables:
                    value = self.variables[name]
                elif isinstance(default, IntValueNode):
                    value = int(default.value)
            elif isinstance(literal, IntValueNode):
                value = int(literal.value)
        if not isinstance(value, int) or isinstance(value, bool):
            value = argument.default_value
        if not isinstance(value, int) or isinstance(value, bool):
            return self.max_page
        return max(0, min(value, self.max_page))


def _nullable(type_: Any) -> Any:
    return type_.of_type if isinstance(type_, GraphQLNonNull) else type_


def query_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    max_page: int,
) -> int | None:
    """The cost of the operation a request runs (see the module docstring); None when the
    document names no single operation (execution reports that)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    root = schema.get_root_type(operation.operation)
    if root is None:
        return None
    walk = _Walk(schema, document, operation, variables or {}, max_page)
    return walk.cost(root, iter([operation.selection_set]), None)


def page_variables(document: DocumentNode) -> tuple[str, ...]:
    """Names of the variables given as ``first`` anywhere in ``document``."""
    names: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    if argument.name.value == PAGE_ARGUMENT and isinstance(
                        argument.value, VariableNode
                    ):
                        names.add(argument.value.name.value)
            visit(getattr(selection, "selection_set", None))

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            visit(definition.selection_set)
    return tuple(sorted(names))


class CostCache:
    """Costs already computed, by (document text, operation, values of its ``first``
    variables); bounded LRU. One per schema (its ``max_page`` is part of every cost)."""

    def __init__(self, max_page: int, size: int) -> None:
        self.max_page = max_page
        self._pages: LRUCache[str, tuple[str, ...]] = LRUCache(size)
        self._costs: LRUCache[tuple[Any, ...], int | None] = LRUCache(size * 4)

    def cost(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        operation_name: str | None,
        variables: Mapping[str, Any] | None,
    ) -> int | None:
        variables = variables or {}
        names = self._pages.get(query)
        if names is None:
            names = self._pages[query] = page_variables(document)
        values = tuple(variables.get(name) for name in names)
        key = (query, operation_name, values)
        try:
            return self._costs[key]
        except KeyError:
            cacheable = True
        except TypeError:  # an unhashable value (a list as `first`): not cached
            cacheable = False
        cost = query_cost(schema, document, operation_name, variables, max_page=self.max_page)
        if cacheable:
            self._costs[key] = cost
        return cost


class CostLimit(SchemaExtension):
    """Refuses an operation whose cost exceeds the limit, or that its client's rate cannot
    pay for, before it runs; reports the cost of every operation in ``extensions.cost``."""

    def __init__(self, *, max_cost: int, costs: CostCache, charge: Charge | None = None) -> None:
        self.max_cost = max_cost
        self.costs = costs
        self.charge = charge
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            self.cost = self.costs.cost(
                context.schema._schema,
                context.query or "",
                document,
                context.operation_name,
                context.variables,
            )
        if self.cost is not None and self.cost > self.max_cost:
            context.result = _refused(
                f"query cost {self.cost:,} exceeds the limit {self.max_cost:,}"
                " (JOBSTREAM_MAX_QUERY_COST): ask for fewer results (`first`) or"
                " nest fewer lists",
                {"code": BAD_USER_INPUT, "cost": self.cost, "limit": self.max_cost},
            )
        elif self.cost is not None and self.charge is not None:
            self._bill(self.cost)
        yield

    def _bill(self, cost: int) -> None:
        """Take the operation's tokens; over the rate, answer 429 instead of running it."""
        request = getattr(self.execution_context.context, "request", None)
        if request is None:
            return
        assert self.charge is not None
        refusal = self.charge(request.scope, cost)
        if refusal is None:
            return
        seconds = retry_after(refusal.retry_after_s)
        self.execution_context.result = _refused(
            refusal.message, {"code": RATE_LIMITED, "retryAfter": int(seconds)}
        )
        response = getattr(self.execution_context.context, "response", None)
        if response is not None:  # Strawberry's sub-response: its status and headers are used
            response.status_code = 429
            response.headers["retry-after"] = seconds

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "limit": self.max_cost}}


def _refused(message: str, extensions: dict[str, Any]) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])
