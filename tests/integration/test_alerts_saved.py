"""Saved searches from their topic (issue #13), on the real stack: the materialiser's rows
(filter columns, lexemes), newest-record-wins, deletion, bad records skipped and counted,
`jobstream alerts rebuild`, backfill from the read model, and `jobstream alerts stats`.

Each test writes to a private saved-searches topic and starts from empty saved_searches
and alerts tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from typer.testing import CliRunner

from api.search.lexical import lexical_query_cte
from api.search.ranking import query_words
from api.search.words import spelt, units
from infra.cli import app
from schemas import kafka
from schemas.domain import Posting
from schemas.jobstream.v1 import alerts_pb2
from schemas.search import synonyms
from schemas.search.filters import PostingFilter
from schemas.settings import Settings
from schemas.topics import create_missing, topic_spec
from streams.alerts.apply import apply
from streams.alerts.saved import Materialiser, open_topic
from streams.sink.batch import dedupe
from streams.sink.records import Decoded, Record
from streams.sink.writer import PostingsWriter
from tests.support.sink import posting, produce, reset_table

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def search_id() -> str:
    return "ss_" + uuid.uuid4().hex[:22]


def saved(
    sid: str,
    *,
    query: str = "",
    filt: PostingFilter | None = None,
    mode: int = alerts_pb2.SAVED_SEARCH_KEYWORD,
    deleted: bool = False,
    backfill_days: int = 0,
    embedding: bytes = b"",
    email: str = "",
    webhook: str = "",
    filter_json: str | None = None,
) -> bytes:
    created = Timestamp()
    created.FromDatetime(NOW)
    return alerts_pb2.SavedSearch(
        id=sid,
        secret_sha256=hashlib.sha256(b"secret").digest(),
        query=query,
        filter_json=filter_json or json.dumps((filt or PostingFilter()).to_dict()),
        mode=mode,  # type: ignore[arg-type]
        min_score=0.5,
        delivery=alerts_pb2.Delivery(
            webhook_url=webhook,
            email=email,
            email_schedule=1 if email else 0,  # type: ignore[arg-type]
        ),
        query_embedding=embedding,
        embedding_model="test-random" if embedding else "",
        created_at=created,
        deleted=deleted,
        backfill_days=backfill_days,
    ).SerializeToString()


async def clean(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("DELETE FROM saved_searches; DELETE FROM alerts")
    finally:
        await conn.close()


@pytest.fixture
async def topic(stack: Settings) -> Settings:
    """The stack on a private saved-searches topic, empty tables."""
    await clean(stack)
    return stack.model_copy(update={"topic_saved_searches": f"saved-test-{uuid.uuid4().hex[:8]}"})


async def send(settings: Settings, records: Iterable[tuple[bytes | None, bytes | None]]) -> None:
    admin = kafka.admin(settings, "test")
    await admin.start()
    try:
        await create_missing(admin, [topic_spec(settings, settings.topic_saved_searches)])
    finally:
        await admin.close()
    await produce(settings, settings.topic_saved_searches, [(k, v) for k, v in records])


@contextlib.asynccontextmanager
async def running(settings: Settings, **options: Any) -> AsyncIterator[Materialiser]:
    """A materialiser task for the block, caught up with the topic on entry."""
    m = Materialiser(settings, **options)
    task = asyncio.create_task(m.run())
    try:
        await m.caught_up(timeout_s=30)
        yield m
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def rows(settings: Settings) -> dict[str, asyncpg.Record]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        found = await conn.fetch(
            "SELECT *, lexical_query::text AS lq FROM saved_searches ORDER BY id"
        )
    finally:
        await conn.close()
    return {r["id"]: r for r in found}


async def wait_for(settings: Settings, check: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        now = await rows(settings)
        if check(now) or asyncio.get_running_loop().time() > deadline:
            return now
        await asyncio.sleep(0.1)


async def test_a_saved_search_lands_with_canonical_filter_columns_and_lexemes(
    topic: Settings,
) -> None:
    sid, later = search_id(), search_id()
    filt = PostingFilter(
        skills_all=("K8s", "Python"),
        skills_any=("golang",),
        country_code="de",
        city="Berlin",
        remote_modes=("remote", "HYBRID"),
        experience_min_years=2,
        salary_min=60_000,
        currency="eur",
        posted_after=datetime(2026, 1, 1, tzinfo=UTC),
    )
    await send(
        topic, [(sid.encode(), saved(sid, query="Senior k8s engineers spring boot", filt=filt))]
    )
    async with running(topic) as m:
        row = (await rows(topic))[sid]
        assert row["skills_all"] == ["kubernetes", "python"]
        assert row["skills_any"] == ["go"]
        assert (row["country_code"], row["city"]) == ("DE", "berlin")
        assert row["remote_modes"] == ["HYBRID", "REMOTE"]
        assert (row["experience_min_years"], row["salary_min"], row["currency"]) == (
            2,
            60000,
            "EUR",
        )
        assert row["posted_after"] == datetime(2026, 1, 1, tzinfo=UTC)
        assert json.loads(row["filter"]) == filt.to_dict()
        assert row["mode"] == "KEYWORD"
        assert not row["deleted"]
        # the words as search parses them: stems, "k8s" as its alias group (an OR, so none
        # of its lexemes is required), "spring boot" one alias unit (or "springboot")
        assert row["lexemes"] == ["engin", "senior"]
        assert row["lq"] == (
            "( 'senior' | 'senior' ) & ( 'k8s' | 'kube' | 'kubernet' ) & 'engin'"
            " & ( 'spring' <-> 'boot' | 'springboot' )"
        )
        # the same tsquery as search's own lexical CTE builds (api/search/lexical.py), once
        # a live posting holds every word (search drops words no posting has)
        await reset_table(topic)
        rng = np.random.default_rng(3)
        holder = replace(
            posting("holder", 1, rng),
            title="Senior engineers",
            skills=("k8s", "spring boot"),
        )
        await write_postings(topic, [holder])
        words = query_words("Senior k8s engineers spring boot")
        groups = [spelt(u, synonyms.active()) for u in units(words, synonyms.active())]
        conn = await asyncpg.connect(topic.postgres_dsn)
        try:
            expected = await conn.fetchval(
                f"WITH {lexical_query_cte('$1::text[]')} SELECT q::text FROM lexical_query",
                groups,
            )
        finally:
            await conn.close()
        assert row["lq"] == expected
        # tailing: a record written after the start lands too
        await send(topic, [(later.encode(), saved(later))])
        now = await wait_for(topic, lambda r: later in r)
        assert now[later]["lexemes"] == []
        assert now[later]["lq"] is None
        assert m.totals.upserted == 2
        assert m.totals.bad == 0


async def test_an_older_record_never_overwrites_a_newer_one_and_delete_marks_deleted(
    topic: Settings,
) -> None:
    sid, gone, tomb = search_id(), search_id(), search_id()
    await send(
        topic,
        [
            (sid.encode(), saved(sid, query="kafka")),
            (sid.encode(), saved(sid, query="postgres")),
            (gone.encode(), saved(gone, query="redis")),
            (gone.encode(), saved(gone, query="redis", deleted=True)),
            (tomb.encode(), saved(tomb, query="tomb")),
            (tomb.encode(), None),  # a tombstone deletes too
        ],
    )
    async with running(topic):
        now = await rows(topic)
    assert now[sid]["query"] == "postgres"
    assert not now[sid]["deleted"]
    assert now[gone]["deleted"]
    assert now[tomb]["deleted"]
    assert now[tomb]["query"] == "tomb"
    # the topic's records applied again, newest first: the older ones change nothing
    consumer, ends = await open_topic(topic, "test", {})
    try:
        records: list[Any] = []
        while len(records) < sum(ends.values()):
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for tp_records in batch.values() for r in tp_records]
    finally:
        await consumer.stop()
    conn = await asyncpg.connect(topic.postgres_dsn)
    try:
        from streams.sink.writer import register_vector_bytes

        await register_vector_bytes(conn)
        done = await apply(conn, sorted(records, key=lambda r: -r.offset), topic, False)
    finally:
        await conn.close()
    assert done.stale == 6
    assert done.upserted == 0
    again = await rows(topic)
    assert again[sid]["query"] == "postgres"
    assert again[gone]["deleted"]
    assert again[sid]["source_offset"] == now[sid]["source_offset"]


async def test_garbage_records_are_skipped_counted_and_the_stream_goes_on(
    topic: Settings,
) -> None:
    good, bad, odd = search_id(), search_id(), search_id()
    wrong_vector = saved(
        bad, query="x", mode=alerts_pb2.SAVED_SEARCH_SEMANTIC, embedding=b"\0" * 12
    )
    await send(
        topic,
        [
            (b"junk", b"\xff\xfe not a protobuf \x00"),
            (b"ss_short", alerts_pb2.SavedSearch(id="ss_short").SerializeToString()),
            (bad.encode(), wrong_vector),
            (b"other-key", saved(bad)),
            (bad.encode(), saved(bad, filter_json='{"city": 7}')),
            (
                bad.encode(),
                alerts_pb2.SavedSearch(id=bad, secret_sha256=b"1" * 32).SerializeToString(),
            ),
            (b"\x00not an id", None),
            (good.encode(), saved(good, query="fine")),
            # tsquery syntax in the words is text like any other, never a parse error
            (odd.encode(), saved(odd, query="o'reilly \\ & | ! <-> :* 'x' (c++")),
        ],
    )
    async with running(topic) as m:
        now = await rows(topic)
        reasons = {
            s.labels["reason"]: s.value
            for metric in m.metrics.registry.collect()
            if metric.name == "jobstream_alerts_saved_searches_bad_records"
            for s in metric.samples
            if s.name.endswith("_total")
        }
    assert set(now) == {good, odd}
    assert now[odd]["lq"] == "'o' & 'reilli' & 'x' & 'cplusplus'"
    assert m.totals.bad == 7
    assert reasons == {
        "undecodable": 1,
        "bad_id": 2,
        "bad_embedding": 1,
        "key_mismatch": 1,
        "bad_filter": 1,
        "no_created_at": 1,
    }


async def test_a_record_the_database_refuses_is_skipped_alone(topic: Settings) -> None:
    """Whatever PostgreSQL refuses (here a constraint added for the test) costs that one
    record: the batch's others land, the refusal is counted."""
    ids = [search_id() for _ in range(4)]
    conn = await asyncpg.connect(topic.postgres_dsn)
    await conn.execute(
        "ALTER TABLE saved_searches ADD CONSTRAINT test_refuse CHECK (query <> 'refuse me')"
    )
    try:
        queries = ["one", "refuse me", "three", "four"]
        records = [(i.encode(), saved(i, query=q)) for i, q in zip(ids, queries, strict=True)]
        await send(topic, records)
        async with running(topic) as m:
            now = await rows(topic)
    finally:
        await conn.execute("ALTER TABLE saved_searches DROP CONSTRAINT test_refuse")
        await conn.close()
    assert set(now) == {ids[0], ids[2], ids[3]}
    assert m.totals.bad == 1
    assert m.totals.upserted == 3


def test_cli_rebuild_restores_the_table_from_the_topic(
    topic: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [search_id() for _ in range(5)]

    async def setup() -> dict[str, Any]:
        await send(topic, [(i.encode(), saved(i, query=f"word{n}")) for n, i in enumerate(ids)])
        await send(topic, [(ids[0].encode(), saved(ids[0], deleted=True))])
        async with running(topic, backfill_enabled=False):
            before = await rows(topic)
        conn = await asyncpg.connect(topic.postgres_dsn)
        try:  # the table drifts from its source: a row lost, a row changed
            await conn.execute("DELETE FROM saved_searches WHERE id = $1", ids[1])
            await conn.execute("UPDATE saved_searches SET query = 'tampered' WHERE id = $1", ids[2])
        finally:
            await conn.close()
        return before

    before = asyncio.run(setup())
    monkeypatch.setenv("JOBSTREAM_TOPIC_SAVED_SEARCHES", topic.topic_saved_searches)
    runner = CliRunner()
    for _ in range(2):  # idempotent
        result = runner.invoke(app, ["alerts", "rebuild", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == {
            "topic": topic.topic_saved_searches,
            "upserted": 5,
            "deleted": 1,
            "stale": 0,
            "bad_records": 0,
        }
        after = asyncio.run(rows(topic))
        assert set(after) == set(before)
        for sid in ids:  # the same rows, written by another transaction
            assert {**after[sid], "written_xid": 0} == {**before[sid], "written_xid": 0}


def at(days_ago: float) -> datetime:
    return NOW - timedelta(days=days_ago)


async def write_postings(settings: Settings, postings: list[Posting]) -> None:
    writer = PostingsWriter(settings.postgres_dsn, dim=settings.embedding_dim, source="test")
    try:
        events = [
            Decoded(p, Record("t", 0, i, p.id.encode(), b"v"), i, b"v")
            for i, p in enumerate(postings)
        ]
        winners, fallbacks = dedupe(events)
        await writer.write(winners, fallbacks)
    finally:
        await writer.close()


async def test_backfill_alerts_at_most_n_matching_postings_of_the_last_n_days(
    topic: Settings,
) -> None:
    await reset_table(topic)
    rng = np.random.default_rng(7)
    base = posting("base", 1, rng)
    wanted = [  # match: kafka in the title, in Germany, "k8s" as a skill (alias of kubernetes)
        replace(
            base,
            id=f"new-{i}",
            title=f"Kafka engineer {i}",
            skills=("k8s", "python"),
            posted_at=at(0.5 + i),
        )
        for i in range(6)
    ]
    old = [replace(w, id=f"old-{i}", posted_at=at(9 + i)) for i, w in enumerate(wanted[:3])]
    other = [
        replace(wanted[0], id="no-skill", skills=("python",)),
        replace(wanted[0], id="no-word", title="Platform engineer", description="Build things."),
        replace(
            wanted[0], id="abroad", location=replace(base.location, country_code="FR", city="Paris")
        ),
    ]
    await write_postings(topic, wanted + old + other)
    sid, late = search_id(), search_id()
    filt = PostingFilter(skills_all=("kubernetes",), country_code="DE")
    settings = topic.model_copy(update={"alerts_backfill_max": 4})
    await send(settings, [(sid.encode(), saved(sid, query="kafka", filt=filt, backfill_days=7))])
    async with running(settings) as m:
        found = await alerts_of(settings, sid)
        assert m.totals.backfilled == 4
        assert len(found) == 4
        assert all(r["backfill"] for r in found)
        assert {r["posting_id"] for r in found} <= {w.id for w in wanted}
        scores = [r["score"] for r in found]
        assert scores == sorted(scores, reverse=True)
        assert [r["version"] for r in found] == [1] * 4
        # a search without backfill_days, and one the matcher alerted already: none added
        await send(settings, [(late.encode(), saved(late, query="kafka", filt=filt))])
        await wait_for(settings, lambda r: late in r)
        assert await alerts_of(settings, late) == []
    # the whole topic again (a restart on an empty table): nothing is backfilled twice
    await asyncio.sleep(0)
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await conn.execute("DELETE FROM saved_searches")
    finally:
        await conn.close()
    async with running(settings) as again:
        assert again.totals.backfilled == 0
    assert len(await alerts_of(settings, sid)) == 4
    # without a cap, every match of the window and none older
    wide = search_id()
    uncapped = topic.model_copy(update={"alerts_backfill_max": 50})
    await send(uncapped, [(wide.encode(), saved(wide, query="kafka", filt=filt, backfill_days=7))])
    async with running(uncapped):
        await wait_for(uncapped, lambda r: wide in r)
    assert {r["posting_id"] for r in await alerts_of(uncapped, wide)} == {w.id for w in wanted}


async def alerts_of(settings: Settings, sid: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        return list(
            await conn.fetch(
                "SELECT * FROM alerts WHERE saved_search_id = $1 ORDER BY sequence", sid
            )
        )
    finally:
        await conn.close()


def test_cli_stats_shows_the_numbers(topic: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = search_id(), search_id(), search_id()

    async def setup() -> None:
        await send(
            topic,
            [
                (a.encode(), saved(a, query="kafka", webhook="https://example.com/hook")),
                (b.encode(), saved(b, mode=alerts_pb2.SAVED_SEARCH_HYBRID, email="x@example.com")),
                (c.encode(), saved(c, deleted=True)),
            ],
        )
        async with running(topic):
            pass
        conn = await asyncpg.connect(topic.postgres_dsn)
        try:
            await conn.execute(
                "INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at,"
                " matched_at, published) VALUES ($1, 'p1', 1, 0.9, now(), now() - interval '30 s',"
                " false), ($1, 'p2', 1, 0.8, now(), now() - interval '3 hours', true)",
                a,
            )
            await conn.execute("DELETE FROM webhook_deliveries")  # migration 0010
            await conn.execute(
                "INSERT INTO webhook_deliveries (alert_id, saved_search_id, host, alert, source,"
                " attempts, last_status) VALUES ($1 || '/p1', $1, 'example.com', '', 't:0:0', 3,"
                " 500), ($1 || '/p2', $1, 'example.com', '', 't:0:1', 0, NULL)",
                a,
            )
        finally:
            await conn.close()
        await send(topic, [(b.encode(), saved(b, email="x@example.com"))])  # not applied yet

    asyncio.run(setup())
    monkeypatch.setenv("JOBSTREAM_TOPIC_SAVED_SEARCHES", topic.topic_saved_searches)
    result = CliRunner().invoke(app, ["alerts", "stats", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    saved_searches = figures["saved_searches"]
    assert (saved_searches["live"], saved_searches["deleted"]) == (2, 1)
    assert (saved_searches["keyword"], saved_searches["hybrid"]) == (1, 1)
    assert (saved_searches["with_webhook"], saved_searches["with_email"]) == (1, 1)
    assert (figures["alerts"]["last_hour"], figures["alerts"]["last_24h"]) == (1, 2)
    assert sum(h["alerts"] for h in figures["alerts"]["per_hour"]) == 2
    assert figures["delivery"]["unpublished"] == 1
    assert 29 <= figures["delivery"]["oldest_unpublished_s"] < 120
    assert figures["delivery"]["webhook_pending"] == 2
    assert figures["delivery"]["webhook_failing"] == 1
    assert figures["delivery"]["webhook_dead_lettered"] == 0
    assert figures["delivery"]["email_pending"] == 0
    assert figures["materialiser"]["lag"] == 1
    table = CliRunner().invoke(app, ["alerts", "stats"])
    assert table.exit_code == 0, table.output
    assert "saved searches (live)" in table.stdout
    assert "materialiser lag" in table.stdout
    assert "webhook failing" in table.stdout


def test_cli_says_when_postgresql_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"postgresql://postgres@127.0.0.1:{s.getsockname()[1]}/jobstream"
    for name in ("JOBSTREAM_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.setenv(name, url)
    for command in (["alerts", "stats"], ["alerts", "rebuild"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 3, result.output
        assert "unreachable" in result.stderr
        assert "Traceback" not in result.output
