"""The judged relevance set: hand-written postings and graded queries over them.

``corpus.ndjson`` holds realistic postings in the ``jobstream produce --file`` shape,
without embeddings (the bench embeds them with the embedder under test): many roles,
rare exact terms (Patroni, pgBackRest, CKA, ...), near-duplicates, Korea-based employers
and distractors that share a word with a rare term (a Kafka literature teacher).
``queries.json`` holds the sets -- ``en_exact``, ``en_descriptive``, ``ko`` and the small
``en_variants`` (skill aliases and typos) -- each query with graded judgments.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus.ndjson"
QUERIES = HERE / "queries.json"
GRADES = frozenset({1, 2, 3})


@dataclass(frozen=True, slots=True)
class Query:
    """One judged query: its text and the grade of each relevant posting id."""

    id: str
    text: str
    judgments: dict[str, int]


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The postings as NDJSON objects, in file order."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_queries(path: Path = QUERIES) -> dict[str, list[Query]]:
    """Each set's queries, in file order."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        name: [Query(q["id"], q["query"], dict(q["judgments"])) for q in queries]
        for name, queries in data["sets"].items()
    }


def problems(corpus: list[dict[str, Any]], sets: dict[str, list[Query]]) -> list[str]:
    """What is wrong with the judgments: unknown ids, bad grades, no grade-3 posting,
    a query id used twice (empty when the set is sound)."""
    ids = {posting["id"] for posting in corpus}
    found: list[str] = []
    seen: set[str] = set()
    for name, queries in sets.items():
        for query in queries:
            where = f"{name}/{query.id}"
            if query.id in seen:
                found.append(f"{where}: query id used twice")
            seen.add(query.id)
            if not query.text.strip():
                found.append(f"{where}: empty query text")
            if 3 not in query.judgments.values():
                found.append(f"{where}: no grade-3 posting")
            for pid, grade in query.judgments.items():
                if pid not in ids:
                    found.append(f"{where}: {pid} is not in the corpus")
                if grade not in GRADES:
                    found.append(f"{where}: {pid} has grade {grade} (1-3)")
    return found
