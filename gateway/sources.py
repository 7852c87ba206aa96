"""Where ``jobstream produce`` gets postings: an NDJSON file or the generator.

Each source yields :class:`Item` s in input order: a wire event ready to send, or a
local rejection for input that never becomes an event (malformed JSON, a wrong shape).
Shape errors are caught here because they cannot be expressed as a protobuf at all;
every domain rule is left to the gateway, the single authority on validity.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas.domain import InvalidPosting, from_json
from schemas.jobstream.v1 import posting_pb2

EMBED_CHUNK = 256


@dataclass(frozen=True, slots=True)
class LocalRejection:
    """Input refused before it reached the gateway."""

    reason: str  # MALFORMED_JSON or a RejectReason name
    message: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One posting of the input; ``label`` says where it came from (``line 12``)."""

    label: str
    event: posting_pb2.PostingEvent | None = None
    rejection: LocalRejection | None = None


def parse_line(text: str, label: str) -> Item:
    """One NDJSON line to an :class:`Item` (never raises)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"column {exc.colno}" if exc.lineno == 1 else f"line {exc.lineno} col {exc.colno}"
        message = f"{label}: malformed JSON at {where}: {exc.msg}"
        return Item(label, rejection=LocalRejection("MALFORMED_JSON", message))
    except RecursionError:
        return Item(
            label, rejection=LocalRejection("MALFORMED_JSON", f"{label}: nested too deeply")
        )
    found_id = obj.get("id") if isinstance(obj, dict) else None
    shown_id = found_id[:200] if isinstance(found_id, str) else ""
    try:
        return Item(label, event=from_json(obj))
    except InvalidPosting as exc:
        return Item(
            label,
            rejection=LocalRejection(exc.reason.name, f"{label}: {exc.message}", shown_id),
        )


def count_lines(path: Path) -> int:
    """Non-blank lines, for the progress bar's total (a fast bytes scan)."""
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def read_ndjson(path: Path) -> Iterator[Item]:
    """Items of an NDJSON file; blank lines are skipped, line numbers start at 1."""
    with path.open("r", encoding="utf-8", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            label = f"line {number}"
            try:
                line.encode("utf-8")
            except UnicodeEncodeError:
                yield Item(label, rejection=LocalRejection("MALFORMED_JSON", f"{label}: not UTF-8"))
                continue
            yield parse_line(line.strip(), label)


Embed = Callable[[list[str]], Awaitable[Any]]


async def generated(
    n: int,
    *,
    seed: int,
    embed: Embed,
    model: str,
    start: int = 0,
    text: Callable[[dict[str, Any]], str] | None = None,
) -> AsyncIterator[Item]:
    """``n`` generated postings with embeddings, ``EMBED_CHUNK`` texts per embed call.

    ``embed`` is awaited (run the embedder in a thread so the stream keeps flowing).
    ``text`` picks what is embedded (default :func:`gateway.generator.embedding_text`).
    """
    from gateway.generator import embedding_text, generate

    to_text = text or embedding_text
    chunk: list[dict[str, Any]] = []
    index = start
    for data in generate(n, seed=seed, start=start):
        chunk.append(data)
        if len(chunk) == EMBED_CHUNK:
            for item in await _embedded(chunk, index, embed, model, to_text):
                yield item
            index += len(chunk)
            chunk = []
    if chunk:
        for item in await _embedded(chunk, index, embed, model, to_text):
            yield item


async def _embedded(
    chunk: list[dict[str, Any]],
    first: int,
    embed: Embed,
    model: str,
    text: Callable[[dict[str, Any]], str],
) -> list[Item]:
    vectors = np.asarray(await embed([text(d) for d in chunk]), dtype="<f4")
    items = []
    for offset, (data, vector) in enumerate(zip(chunk, vectors, strict=True)):
        label = f"posting {first + offset}"
        body = {k: v for k, v in data.items() if k not in ("embedding", "embedding_model")}
        try:
            event = from_json(body)
        except InvalidPosting as exc:
            items.append(Item(label, rejection=LocalRejection(exc.reason.name, exc.message)))
            continue
        event.body.embedding = vector.tobytes()
        event.body.embedding_model = model
        items.append(Item(label, event=event))
    return items
