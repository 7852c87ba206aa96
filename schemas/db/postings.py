"""The columns of ``postings``, declared once: what the sink writes and the API reads.

The migrations stay the DDL of record (they are history, never edited); an integration
test (tests/integration/test_postgres.py) checks that the table they build has exactly
these columns, in this order, with these types and nullability. From this declaration
come the sink's COPY column list and staging table (streams/sink/sql.py), the tombstone
row, and the API's select list (api/search/sql.py). Adding a column is a migration
(``ALTER TABLE postings ADD COLUMN``) plus a field appended to :class:`PostingRow` --
and, naturally, the code that fills or serves its value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, NamedTuple, get_args, get_type_hints

from schemas.domain.model import Posting, PostingEvent


class PostingRow(NamedTuple):
    """One row of ``postings`` as the sink writes it, the columns in table order.

    Each field is a column typed ``Annotated[<Python type>, "<SQL type>"]``; a column is
    nullable exactly when its Python type admits None. The defaults are a tombstone's
    content: nothing, and no skills (that column is NOT NULL). Enum columns hold the enum
    *name*; ``embedding`` is the event's little-endian float32 bytes (the sink's codec).
    """

    id: Annotated[str, "text"]
    version: Annotated[int, "bigint"]
    deleted: Annotated[bool, "boolean"]
    title: Annotated[str | None, "text"] = None
    company: Annotated[str | None, "text"] = None
    city: Annotated[str | None, "text"] = None
    country_code: Annotated[str | None, "text"] = None
    remote_mode: Annotated[str | None, "text"] = None
    employment_type: Annotated[str | None, "text"] = None
    experience_min_years: Annotated[int | None, "smallint"] = None
    experience_max_years: Annotated[int | None, "smallint"] = None
    english_level: Annotated[str | None, "text"] = None
    skills: Annotated[Sequence[str], "text[]"] = ()
    salary_min: Annotated[int | None, "bigint"] = None
    salary_max: Annotated[int | None, "bigint"] = None
    salary_currency: Annotated[str | None, "text"] = None
    description: Annotated[str | None, "text"] = None
    posted_at: Annotated[datetime | None, "timestamptz"] = None
    embedding: Annotated[bytes | None, "vector({embedding_dim})"] = None
    embedding_model: Annotated[str | None, "text"] = None
    produced_at: Annotated[datetime | None, "timestamptz"] = None


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its name, SQL type as the migrations spell it, and nullability."""

    name: str
    sql_type: str  # "{embedding_dim}" stands for the vector dimension, as in the migrations
    nullable: bool

    def definition(self, embedding_dim: int) -> str:
        """The column as a CREATE TABLE line: ``name type [NOT NULL]``."""
        sql_type = self.sql_type.replace("{embedding_dim}", str(int(embedding_dim)))
        return f"{self.name} {sql_type}" + ("" if self.nullable else " NOT NULL")


def _row_columns() -> tuple[Column, ...]:
    hints = get_type_hints(PostingRow, include_extras=True)  # Annotated[type, "sql type"]
    return tuple(
        Column(name, hints[name].__metadata__[0], type(None) in get_args(hints[name].__origin__))
        for name in PostingRow._fields
    )


# The columns a written row carries; the table has more, which the database keeps
# itself: updated_at, now() on every insert and on every update that wins the version
# check, and search_tsv, the lexical search document generated from the row's text
# (migration 0004). A column added by a later migration lands after updated_at in the
# table, so the table's order is that of ROW_COLUMNS with updated_at inserted at some
# position, then the generated columns.
ROW_COLUMNS: tuple[Column, ...] = _row_columns()
UPDATED_AT = Column("updated_at", "timestamptz", nullable=False)
SEARCH_TSV = Column("search_tsv", "tsvector", nullable=True)
DATABASE_KEPT: tuple[Column, ...] = (UPDATED_AT, SEARCH_TSV)
TABLE_COLUMNS: tuple[Column, ...] = (*ROW_COLUMNS, *DATABASE_KEPT)


def posting_row(event: PostingEvent) -> tuple[object, ...]:
    """The values an event writes, in :class:`PostingRow` order: the posting's content, or
    a content-free tombstone.

    A plain tuple on purpose: the sink builds one per event, and constructing the
    NamedTuple would cost half as much again as the tuple. tests/unit/test_postings_row.py
    names every value through ``PostingRow(*row)``.
    """
    if not isinstance(event, Posting):
        return PostingRow(event.id, event.version, True, produced_at=event.produced_at)
    salary = event.salary
    return (
        event.id,
        event.version,
        False,
        event.title,
        event.company,
        event.location.city,
        event.location.country_code,
        event.remote_mode.name,
        event.employment_type.name,
        event.experience_min_years,
        event.experience_max_years,
        event.english_level.name,
        event.skills,
        None if salary is None else salary.min,
        None if salary is None else salary.max,
        None if salary is None else salary.currency,
        event.description,
        event.posted_at,
        event.embedding_bytes,
        event.embedding_model,
        event.produced_at,
    )


def select_list(names: Iterable[str]) -> str:
    """``names`` as a SELECT list in table order; ValueError names any that is no column."""
    wanted = set(names)
    unknown = wanted - {c.name for c in TABLE_COLUMNS}
    if unknown:
        raise ValueError(f"not columns of postings: {', '.join(sorted(unknown))}")
    return ", ".join(c.name for c in TABLE_COLUMNS if c.name in wanted)
