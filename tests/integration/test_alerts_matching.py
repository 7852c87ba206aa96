"""The alerts matcher on the real stack (issue #13): postings through a real sink worker,
invalidations to a real alerts worker process (``python -m streams.alerts``), the ledger
and alerts.v1 compared with a brute-force answer computed here in Python -- filters by
PostingFilter's documented meaning, cosine with numpy, the lexical part from each
posting's tsvector -- and kill -9 of the alerts worker mid-stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.domain import (
    EmploymentType,
    EnglishLevel,
    Location,
    Posting,
    RemoteMode,
    Salary,
)
from schemas.search import synonyms
from schemas.search.filters import PostingFilter
from schemas.search.lexical import groups
from schemas.settings import Settings
from streams.alerts import ledger as ledger_sql
from streams.alerts.publisher import Publisher
from tests.support.alert_matching import (
    AlertsProcess,
    Saved,
    insert_saved,
    ledger,
    make_alert_topics,
    read_alerts,
    reset_alerts,
    saved_id,
)
from tests.support.sink import (
    Topics,
    WorkerProcess,
    deleted,
    encoded,
    make_topics,
    produce,
    wait_caught_up,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

DIM = 384
WORDS = ["python", "rust", "golang", "postgres", "kubernetes", "backend", "data", "platform"]
FILLER = ["engineer", "team", "build", "services", "product", "customers", "startup"]
SKILLS = ["python", "rust", "go", "postgresql", "k8s", "kubernetes", "django", "terraform"]
CITIES = [("Berlin", "DE"), ("Munich", "DE"), ("Paris", "FR"), ("Lyon", "FR"), ("Warsaw", "PL")]
BASE = datetime(2026, 11, 1, tzinfo=UTC)


def unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def make_postings(rng: np.random.Generator, n: int, centres: np.ndarray) -> list[Posting]:
    out = []
    for i in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(1, 4)), replace=False))
        city, country = CITIES[int(rng.integers(len(CITIES)))]
        lo = int(rng.integers(0, 8))
        salary = (
            None
            if rng.random() < 0.15
            else Salary(
                min=40_000,
                max=int(rng.integers(45, 140)) * 1000,
                currency=str(rng.choice(["EUR", "PLN"])),
            )
        )
        centre = centres[int(rng.integers(len(centres)))]
        out.append(
            Posting(
                id=f"am{i:04d}",
                version=1,
                title=f"{words[0].capitalize()} {rng.choice(FILLER)}",
                company="Acme",
                location=Location(city=city, country_code=country),
                remote_mode=list(RemoteMode)[int(rng.integers(3))],
                employment_type=list(EmploymentType)[int(rng.integers(4))],
                experience_min_years=lo,
                experience_max_years=lo + int(rng.integers(0, 5)),
                english_level=list(EnglishLevel)[int(rng.integers(5))],
                skills=tuple(rng.choice(SKILLS, size=int(rng.integers(0, 4)), replace=False)),
                salary=salary,
                description=" ".join([*words[1:], *rng.choice(FILLER, size=4)]) + ".",
                posted_at=BASE + timedelta(days=int(rng.integers(0, 20))),
                embedding=unit(centre + rng.normal(scale=0.045, size=DIM)),
                embedding_model="test-random",
            )
        )
    return out


def make_searches(rng: np.random.Generator, centres: np.ndarray) -> list[Saved]:
    filters = [
        PostingFilter(),
        PostingFilter(country_code="DE"),
        PostingFilter(city="berlin"),
        PostingFilter(remote_modes=("REMOTE", "HYBRID")),
        PostingFilter(experience_min_years=3, experience_max_years=5),
        PostingFilter(skills_all=("kubernetes",)),
        PostingFilter(skills_any=("golang", "rust")),
        PostingFilter(salary_min=90_000, currency="EUR"),
        PostingFilter(english_levels=("FLUENT", "BUSINESS"), employment_types=("FULL_TIME",)),
        PostingFilter(posted_after=BASE + timedelta(days=10)),
    ]
    out = []
    for i in range(30):
        mode = ["KEYWORD", "SEMANTIC", "HYBRID"][i % 3]
        query = " ".join(rng.choice(WORDS, size=1 + i % 2, replace=False)) if i % 10 != 9 else ""
        centre = centres[int(rng.integers(len(centres)))]
        vector = unit(centre + rng.normal(scale=0.04, size=DIM)) if query else None
        out.append(Saved(saved_id(), query, filters[i % len(filters)], mode, 0.5, vector))
    return out


async def posting_lexemes(settings: Settings) -> dict[str, set[str]]:
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        rows = await conn.fetch("SELECT id, tsvector_to_array(search_tsv) AS l FROM postings")
    finally:
        await conn.close()
    return {r["id"]: set(r["l"]) for r in rows}


async def query_units(settings: Settings, query: str) -> list[list[set[str]]]:
    """Per unit of the query, the lexeme sets of its spellings (single words only: the
    oracle does not model phrase adjacency, so the test uses no multi-word spellings)."""
    out = []
    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        for group in groups(query, synonyms.active()):
            spellings = group.split("\n")
            assert all(" " not in s for s in spellings), spellings
            sets = []
            for s in spellings:
                lexemes = await conn.fetchval(
                    "SELECT tsvector_to_array(to_tsvector('english', jobstream_search_text($1)))", s
                )
                if lexemes:
                    sets.append(set(lexemes))
            out.append(sets)
    finally:
        await conn.close()
    return out


def accepts(f: PostingFilter, p: Posting) -> bool:
    """PostingFilter's documented meaning, written out independently of the SQL."""
    f = f.normalized()
    canon = {synonyms.canonical(s) for s in p.skills}
    checks = [
        f.experience_min_years is None or p.experience_max_years >= f.experience_min_years,
        f.experience_max_years is None or p.experience_min_years <= f.experience_max_years,
        not f.english_levels or p.english_level.name in f.english_levels,
        not f.remote_modes or p.remote_mode.name in f.remote_modes,
        not f.employment_types or p.employment_type.name in f.employment_types,
        f.country_code is None or p.location.country_code == f.country_code,
        f.city is None or p.location.city.lower() == f.city.lower(),
        not f.skills_all or set(f.skills_all) <= canon,
        not f.skills_any or bool(set(f.skills_any) & canon),
        f.salary_min is None or (p.salary is not None and p.salary.max >= f.salary_min),
        f.currency is None or (p.salary is not None and p.salary.currency == f.currency),
        f.posted_after is None or p.posted_at > f.posted_after,
    ]
    return all(checks)


async def brute_force(
    settings: Settings, postings: list[Posting], searches: list[Saved]
) -> tuple[set[tuple[str, str]], int]:
    """(expected matches, pairs too close to a cosine threshold to call)."""
    lexemes = await posting_lexemes(settings)
    expected: set[tuple[str, str]] = set()
    borderline = 0
    for s in searches:
        units = await query_units(settings, s.query) if s.query else []
        for p in postings:
            if not accepts(s.filter, p):
                continue
            if not s.query:
                expected.add((s.id, p.id))
                continue
            lexical = bool(units) and all(
                any(sp <= lexemes[p.id] for sp in spellings) for spellings in units
            )
            cosine = float(np.dot(s.embedding.astype(np.float64), p.embedding.astype(np.float64)))
            if abs(cosine - s.min_score) < 1e-4 and s.mode != "KEYWORD":
                borderline += 1
            semantic = cosine >= s.min_score
            hit = {"KEYWORD": lexical, "SEMANTIC": semantic, "HYBRID": lexical or semantic}[s.mode]
            if hit:
                expected.add((s.id, p.id))
    return expected, borderline


async def agrees_with_search(
    settings: Settings, searches: list[Saved], got: dict[tuple[str, str], Any]
) -> None:
    """What the search repository answers for each saved search over the same postings:
    the same postings for KEYWORD (search's word matching), the same count for SEMANTIC
    (its match floor = min_score). HYBRID is not compared: search's HYBRID ranks the
    union of both sides, it does not cut it at min_score."""
    from api.search.ranking import Ranking, SearchMode
    from api.search.repository import PostingRepository

    pool = await asyncpg.create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    try:
        repo = PostingRepository(pool, dim=DIM, match_floor=0.5)
        compared = 0
        for s in searches:
            if not s.query or s.mode == "HYBRID":
                continue
            mine = {pid for sid, pid in got if sid == s.id}
            if s.mode == "KEYWORD":
                page = await repo.search(
                    None,
                    s.filter,
                    first=1000,
                    after=None,
                    text=s.query,
                    ranking=Ranking(SearchMode.KEYWORD),
                )
                assert {h.posting_id for h in page.hits} == mine, s
            else:
                count = await repo.count_matches(
                    s.embedding, s.filter, text=s.query, mode=SearchMode.SEMANTIC, model=s.model
                )
                assert count == len(mine), s
            compared += 1
        assert compared >= 15
    finally:
        await pool.close()


async def index_alone_finds_every_match(
    settings: Settings, postings: list[Posting], expected: set[tuple[str, str]]
) -> None:
    """The in-memory candidate index proposes every pair the brute force accepts, and the
    matcher's statement with nothing left to SQL's full evaluation (the horizon past every
    row) writes exactly those -- re-run in a rolled-back transaction."""
    from streams.alerts.backfill import alias_params
    from streams.alerts.candidates import CandidateIndex, refresh
    from streams.alerts.matcher import FETCH, Change, match, posting_of
    from streams.sink.writer import register_vector_bytes

    conn = await asyncpg.connect(settings.postgres_dsn)
    try:
        await register_vector_bytes(conn)
        index = CandidateIndex(DIM, capacity=8)  # grown on the way
        assert await refresh(conn, index, full=True) > 0
        now = datetime.now(UTC)
        changes = [Change(p.id, p.version, False, now) for p in postings]
        args = [[c.id for c in changes], [1] * len(changes), [now] * len(changes)]
        aliases = alias_params(synonyms.active())
        live = [posting_of(r) for r in await conn.fetch(FETCH, *args, *aliases)]
        proposed = {(sid, pid) for pid, sid in index.candidates(live)}
        assert expected <= proposed
        assert len(proposed) < 3 * len(expected), (len(proposed), len(expected))
        index.horizon = str(2**63)
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute("DELETE FROM alerts")
            await match(conn, changes, aliases, index)
            rows = await conn.fetch("SELECT saved_search_id, posting_id FROM alerts")
        finally:
            await tr.rollback()
        assert {(r["saved_search_id"], r["posting_id"]) for r in rows} == expected
    finally:
        await conn.close()


@dataclass
class Rig:
    topics: Topics
    env: dict[str, str]
    sink: WorkerProcess
    log_dir: Path

    @property
    def alerts_topic(self) -> str:
        return self.env["JOBSTREAM_TOPIC_ALERTS"]


async def new_rig(stack: Settings, tmp_path: Path) -> Rig:
    await reset_alerts(stack)
    topics = await make_topics(stack, partitions=3)
    env = await make_alert_topics(stack, topics)
    return Rig(topics, env, WorkerProcess(topics, tmp_path).start(), tmp_path)


async def wait_matched(stack: Settings, rig: Rig, timeout: float) -> None:
    """Until the alerts group committed the end of the invalidations topic."""
    group = rig.env["JOBSTREAM_ALERTS_CONSUMER_GROUP"]
    tp = TopicPartition(rig.topics.invalidations, 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
        consumer = AIOKafkaConsumer(bootstrap_servers=stack.kafka_bootstrap_servers)
        await admin.start()
        await consumer.start()
        try:
            committed = await admin.list_consumer_group_offsets(group)
            end = (await consumer.end_offsets([tp]))[tp]
        finally:
            await admin.close()
            await consumer.stop()
        if tp in committed and committed[tp].offset == end:
            return
        await asyncio.sleep(0.3)
    raise AssertionError("the alerts group did not catch up with the invalidations")


async def settle(rig: Rig, stack: Settings, alerts: AlertsProcess, timeout: float = 60) -> None:
    """Until the sink is caught up and the ledger has been unchanged and fully published
    for 2 s."""
    await wait_caught_up(rig.topics, timeout=timeout)
    await wait_matched(stack, rig, timeout=timeout)
    deadline = time.monotonic() + timeout
    last: Any = None
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        assert alerts.proc is not None, "not started"
        assert alerts.proc.poll() is None, alerts.tail()
        conn = await asyncpg.connect(stack.postgres_dsn)
        try:
            state = await conn.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE NOT published) AS u,"
                " count(*) FILTER (WHERE closed) AS c FROM alerts"
            )
        finally:
            await conn.close()
        now = (state["n"], state["u"], state["c"])
        if now != last:
            last, stable_since = now, time.monotonic()
        elif state["u"] == 0 and time.monotonic() - stable_since > 2.0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"alerts did not settle: {last}\n{alerts.tail()}")


async def test_ledger_equals_brute_force_and_versions_deletes_poison(
    stack: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(13)
    centres = np.stack([unit(rng.normal(size=DIM)) for _ in range(6)])
    postings = make_postings(rng, 200, centres)
    searches = make_searches(rng, centres)
    rig = await new_rig(stack, tmp_path)
    alerts = AlertsProcess(rig.topics, rig.env, tmp_path).start()
    try:
        await insert_saved(stack, searches)
        await produce(stack, rig.topics.postings, encoded(postings[:100]))
        await produce(stack, rig.topics.invalidations, [(None, b"\xff\x00 not an invalidation")])
        await produce(stack, rig.topics.postings, encoded(postings[100:]))
        await settle(rig, stack, alerts)

        expected, borderline = await brute_force(stack, postings, searches)
        assert borderline == 0
        got = await ledger(stack)
        assert set(got) == expected
        assert len(expected) > 100  # every mode and filter took part
        modes = Counter(next(s.mode for s in searches if s.id == sid) for sid, _ in expected)
        assert min(modes.values()) > 10, modes
        await agrees_with_search(stack, searches, got)
        await index_alone_finds_every_match(stack, postings, expected)
        on_topic = await read_alerts(stack, rig.alerts_topic, expect=len(expected))
        assert Counter((a.saved_search_id, a.posting_id) for a in on_topic) == Counter(expected)
        assert all(a.id == f"{a.saved_search_id}/{a.posting_id}" and not a.closed for a in on_topic)
        assert_titles_marked(on_topic, postings, searches)

        # A second version that still matches does not alert again; deletions close.
        matched = sorted({pid for _, pid in expected})
        again = [p for p in postings if p.id in matched[:20]]
        bumped = [Posting(**{**_fields(p), "version": 2}) for p in again]
        gone = matched[20:30]
        await produce(stack, rig.topics.postings, encoded(bumped))
        await produce(stack, rig.topics.postings, encoded([deleted(pid, 5) for pid in gone]))
        await settle(rig, stack, alerts)
        after = await ledger(stack)
        assert set(after) == expected
        closed = {k for k, row in after.items() if row["closed"]}
        assert closed == {k for k in expected if k[1] in gone}
        on_topic = await read_alerts(stack, rig.alerts_topic, expect=len(expected) + len(closed))
        closes = Counter((a.saved_search_id, a.posting_id) for a in on_topic if a.closed)
        assert closes == Counter(closed)
        opens = Counter((a.saved_search_id, a.posting_id) for a in on_topic if not a.closed)
        assert opens == Counter(expected)
        assert all(after[k]["version"] == 1 for k in expected)
        assert alerts.proc is not None
        assert alerts.proc.poll() is None
    finally:
        alerts.terminate()
        rig.sink.terminate()


def _fields(p: Posting) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(p, f.name) for f in fields(p) if f.init}


async def test_kill_9_of_the_alerts_worker_loses_and_repeats_nothing(
    stack: Settings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    centres = np.stack([unit(rng.normal(size=DIM)) for _ in range(4)])
    postings = make_postings(rng, 400, centres)
    searches = [
        Saved(saved_id(), "", PostingFilter(), "HYBRID", 0.5, None),  # every posting
        *make_searches(rng, centres)[:20],
    ]
    rig = await new_rig(stack, tmp_path)
    await insert_saved(stack, searches)
    alerts = AlertsProcess(rig.topics, rig.env, tmp_path).start()
    try:
        kills = 0
        for start in range(0, len(postings), 40):
            await produce(stack, rig.topics.postings, encoded(postings[start : start + 40]))
            await asyncio.sleep(0.4)
            if start in (80, 200, 320):
                alerts.kill9()
                kills += 1
                alerts = AlertsProcess(rig.topics, rig.env, tmp_path).start()
        await settle(rig, stack, alerts, timeout=90)
        expected, _ = await brute_force(stack, postings, searches)
        got = await ledger(stack)
        assert set(got) == expected
        on_topic = await read_alerts(stack, rig.alerts_topic, expect=len(expected))
        counts = Counter((a.saved_search_id, a.posting_id) for a in on_topic)
        assert set(counts) == expected  # nothing lost
        assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1][
            :5
        ]  # nor repeated
        assert kills == 3
    finally:
        alerts.terminate()
        rig.sink.terminate()


@asynccontextmanager
async def publishing(stack: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool, Publisher]]:
    """An empty ledger, a fresh alerts topic, a pool and a started publisher on them."""
    await reset_alerts(stack)
    topics = await make_topics(stack, partitions=1)
    env = await make_alert_topics(stack, topics)
    settings = stack.model_copy(update={"topic_alerts": env["JOBSTREAM_TOPIC_ALERTS"]})
    pool = await asyncpg.create_pool(stack.postgres_dsn, min_size=2, max_size=3)
    publisher = Publisher(settings)
    await publisher.start()
    try:
        yield settings, pool, publisher
    finally:
        await publisher.stop()
        await pool.close()


async def test_publisher_marks_what_a_killed_publisher_wrote_instead_of_repeating_it(
    stack: Settings,
) -> None:
    """The window kill -9 rarely hits: records acked on alerts.v1, ledger rows not yet
    marked. The next round reads them back past the checkpoint and produces the rest."""
    async with publishing(stack) as (settings, pool, publisher):
        await pool.execute(
            "INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at)"
            " SELECT 'ss_' || (i % 3), 'p' || i, 1, 0.9, now() FROM generate_series(1, 10) i"
        )
        assert await publisher.publish(pool) == 10  # a first, clean round
        await pool.execute(
            "INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at)"
            " SELECT 'ss_' || (i % 3), 'p' || i, 1, 0.9, now() FROM generate_series(11, 20) i"
        )
        pending = await pool.fetch(ledger_sql.PENDING, 100)
        assert len(pending) == 10
        # the dead publisher's last act: 4 of them produced and acked, none marked
        await produce(
            settings,
            settings.topic_alerts,
            [
                (r["saved_search_id"].encode(), ledger_sql.alert_of(r).SerializeToString())
                for r in pending[:4]
            ],
        )
        async with pool.acquire() as conn:
            assert await publisher.recover(conn) == 4
        assert await publisher.publish(pool) == 6
        assert await publisher.publish(pool) == 0
        on_topic = await read_alerts(settings, settings.topic_alerts, expect=20)
        sequences = [int(r["sequence"]) for r in await pool.fetch("SELECT sequence FROM alerts")]
        assert sorted(a.sequence for a in on_topic) == sorted(sequences)
        assert len(on_topic) == 20
        assert await pool.fetchval("SELECT count(*) FROM alerts WHERE NOT published") == 0


async def test_a_row_that_commits_late_is_read_after_what_readers_already_saw(
    stack: Settings,
) -> None:
    """Two writers of one saved search's alerts (two alerts workers, or the matcher and a
    backfill): the one with the lower ledger sequence commits last. A reader resuming
    after what it saw -- the API's cursor, the published sequence -- still gets it."""
    insert = (
        "INSERT INTO alerts (saved_search_id, posting_id, version, score, committed_at)"
        " VALUES ('ss_late', $1, 1, 0.9, now()) RETURNING sequence"
    )
    cursor = (
        "SELECT published_sequence FROM alerts WHERE saved_search_id = 'ss_late'"
        " AND posting_id = $1"
    )
    async with publishing(stack) as (_, pool, publisher), pool.acquire() as slow:
        tr = slow.transaction()
        await tr.start()
        early = await slow.fetchval(insert, "p-slow")  # drawn first, not committed
        late = await pool.fetchval(insert, "p-fast")
        assert early < late
        assert await publisher.publish(pool) == 1  # the reader sees p-fast
        seen = await pool.fetchval(cursor, "p-fast")
        await tr.commit()
        assert await publisher.publish(pool) == 1
        assert await pool.fetchval(cursor, "p-slow") > seen  # after the cursor: not lost


def assert_titles_marked(
    on_topic: list[Any], postings: list[Posting], searches: list[Saved]
) -> None:
    """An alert's event marks the saved query's words in the posting's title, as search
    marks them (ranges of [start, length] over the title)."""
    titles = {p.id: p.title for p in postings}
    queries = {s.id: s.query for s in searches}
    marked = 0
    for alert in on_topic:
        for h in json.loads(alert.highlights_json):
            assert (h["field"], h["kind"]) == ("TITLE", "TERMS")
            assert h["text"] == titles[alert.posting_id]
            words = [w[:4].lower() for w in queries[alert.saved_search_id].split()]
            for start, length in h["ranges"]:
                term = h["text"][start : start + length].lower()
                assert any(term.startswith(w) for w in words), (term, words)
            marked += 1
    assert marked > 0, "no alert marked its title"
