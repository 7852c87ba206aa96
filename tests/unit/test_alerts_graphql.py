"""The alerts fields in the GraphQL limits: their lists cost by `first` like search's,
and the metrics label operations by the new root fields."""

from __future__ import annotations

from graphql import parse

from api.graphql.cost import query_cost
from api.graphql.schema import build_schema
from api.metrics import operation_label, root_fields

ALERTS = """
query A($first: Int) {
  alerts(savedSearchId: "ss_x", secret: "s", first: $first) {
    edges { node { posting { id } } }
  }
}
"""


def test_the_alerts_list_costs_by_first() -> None:
    schema = build_schema()._schema
    document = parse(ALERTS)
    one = query_cost(schema, document, None, {"first": 1}, max_page=100)
    fifty = query_cost(schema, document, None, {"first": 50}, max_page=100)
    # the connection, then per alert its edge, node and posting
    assert (one, fifty) == (1 + 3 * 1, 1 + 3 * 50)


def test_operation_labels_name_the_alerts_fields() -> None:
    schema = build_schema()._schema
    known = root_fields(schema)
    assert {"saveSearch", "deleteSavedSearch", "savedSearch", "alerts"} <= known
    label = operation_label(parse('mutation { saveSearch(query: "x") { id } }'), None, known)
    assert label == "saveSearch"
    subscription = parse('subscription { alerts(savedSearchId: "a", secret: "b") { cursor } }')
    assert operation_label(subscription, None, known) == "alerts"
