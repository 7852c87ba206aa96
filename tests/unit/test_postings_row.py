"""The postings columns declared once (schemas/db/postings.py) and what is derived from them:
the sink's row, tombstone, COPY columns and staging table, the API's select list. That the
migrated table matches the declaration is tests/integration/test_postgres.py's job."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import numpy as np
import pytest

from api.search import sql as search_sql
from api.search.models import PostingView
from schemas.db.postings import (
    ROW_COLUMNS,
    SEARCH_TSV,
    TABLE_COLUMNS,
    UPDATED_AT,
    Column,
    PostingRow,
    posting_row,
    select_list,
)
from schemas.domain import Location, Posting, PostingDeleted, Salary
from schemas.domain.model import EmploymentType, EnglishLevel, RemoteMode
from streams.sink import sql as sink_sql

POSTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PRODUCED = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)


def full_posting() -> Posting:
    """Every field set, each to a value no other column shares."""
    v = np.arange(1, 9, dtype=np.float32)
    return Posting(
        id="p-1",
        version=7,
        title="Title",
        company="Company",
        location=Location("Berlin", "DE"),
        remote_mode=RemoteMode.HYBRID,
        employment_type=EmploymentType.CONTRACT,
        experience_min_years=2,
        experience_max_years=5,
        english_level=EnglishLevel.BUSINESS,
        skills=("go", "sql"),
        salary=Salary(50_000, 70_000, "EUR"),
        description="Description",
        posted_at=POSTED,
        embedding=v / np.linalg.norm(v),
        embedding_model="model",
        produced_at=PRODUCED,
    )


def test_a_posting_row_names_every_value() -> None:
    event = full_posting()
    row = posting_row(event)
    assert len(row) == len(PostingRow._fields)
    assert PostingRow(*row)._asdict() == {
        "id": "p-1",
        "version": 7,
        "deleted": False,
        "title": "Title",
        "company": "Company",
        "city": "Berlin",
        "country_code": "DE",
        "remote_mode": "HYBRID",
        "employment_type": "CONTRACT",
        "experience_min_years": 2,
        "experience_max_years": 5,
        "english_level": "BUSINESS",
        "skills": ("go", "sql"),
        "salary_min": 50_000,
        "salary_max": 70_000,
        "salary_currency": "EUR",
        "description": "Description",
        "posted_at": POSTED,
        "embedding": event.embedding_bytes,
        "embedding_model": "model",
        "produced_at": PRODUCED,
    }


def test_a_posting_without_salary_writes_no_salary_columns() -> None:
    event = full_posting()
    named = PostingRow(*posting_row(Posting(**{**_init_fields(event), "salary": None})))
    assert (named.salary_min, named.salary_max, named.salary_currency) == (None, None, None)


def test_a_tombstone_row_has_identity_and_no_content() -> None:
    row = posting_row(PostingDeleted("p-1", 9, produced_at=PRODUCED))
    assert len(row) == len(PostingRow._fields)
    named = PostingRow(*row)._asdict()
    assert named.pop("id") == "p-1"
    assert named.pop("version") == 9
    assert named.pop("deleted") is True
    assert named.pop("produced_at") == PRODUCED
    assert named.pop("skills") == ()  # NOT NULL: empty, not NULL
    assert set(named.values()) == {None}


def test_columns_come_from_the_row_type() -> None:
    assert [c.name for c in ROW_COLUMNS] == list(PostingRow._fields)
    assert [c.name for c in ROW_COLUMNS if not c.nullable] == ["id", "version", "deleted", "skills"]
    by_name = {c.name: c for c in TABLE_COLUMNS}
    assert by_name["experience_min_years"] == Column("experience_min_years", "smallint", True)
    assert by_name["embedding"].definition(384) == "embedding vector(384)"
    assert by_name["skills"].definition(384) == "skills text[] NOT NULL"
    assert TABLE_COLUMNS[-2:] == (UPDATED_AT, SEARCH_TSV)
    assert UPDATED_AT.definition(384) == "updated_at timestamptz NOT NULL"


def test_the_sink_stages_and_merges_every_row_column() -> None:
    assert sink_sql.STAGING_COLUMNS[0] == "n"
    assert sink_sql.STAGING_COLUMNS[1:] == PostingRow._fields
    lines = sink_sql.create_staging(384).splitlines()
    staged = [line.strip().removesuffix(",") for line in lines[1:-1]]
    assert staged == ["n integer NOT NULL", *(c.definition(384) for c in ROW_COLUMNS)]
    assert f"({', '.join(PostingRow._fields)}, updated_at)" in sink_sql.UPSERT
    for column in ROW_COLUMNS[1:]:  # all but the key
        assert f"{column.name} = EXCLUDED.{column.name}" in sink_sql.UPSERT


def test_the_api_selects_the_view_in_table_order() -> None:
    assert search_sql.VIEW_COLUMNS.split(", ") == [f.name for f in fields(PostingView)]
    assert select_list(["embedding_model", "id", "title"]) == "id, title, embedding_model"
    with pytest.raises(ValueError, match="not columns of postings: nope"):
        select_list(["id", "nope"])


def _init_fields(event: Posting) -> dict[str, object]:
    return {f.name: getattr(event, f.name) for f in fields(event) if f.init}
