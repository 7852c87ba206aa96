"""The query list k6 and the Python benches share: ``tests/load/queries.json``.

Both load generators must send the same texts for their figures to be comparable, so the
texts live in one JSON file that ``tests/load/*.js`` (k6's ``open()``) and
``tests/bench/bench_query_path.py`` read. They are the slices bench_query_path always
drew from ``query_texts(default_rng(5))`` (after its 30 warm-up and 540 uncached texts):
500 Zipf texts and 16 hot ones. Regenerate with ``python -m tests.load.queries``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

PATH = Path(__file__).with_name("queries.json")
SEARCH_DOC = (
    "query S($q: String!, $m: SearchMode) { search(query: $q, first: 10, mode: $m)"
    " { edges { score node { id title company } } } }"
)
ZIPF_S = 1.1
SKIP = 30 + 3 * 3 * 60  # bench_query_path's warm-up and default uncached texts
ZIPF_DISTINCT = 500
HOT = 16


def build() -> dict[str, Any]:
    """The shared document, hot texts and Zipf texts (in rank order: the first is hottest)."""
    from tests.bench.bench_api import query_texts

    texts = query_texts(np.random.default_rng(5))[SKIP:]
    return {
        "document": SEARCH_DOC,
        "mode": "HYBRID",
        "hot": texts[ZIPF_DISTINCT : ZIPF_DISTINCT + HOT],
        "zipf": {"s": ZIPF_S, "texts": texts[:ZIPF_DISTINCT]},
    }


def load() -> dict[str, Any]:
    """The committed list (what both load generators send)."""
    data: dict[str, Any] = json.loads(PATH.read_text())
    return data


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {PATH}")
