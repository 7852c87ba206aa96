"""``jobstream rebuild``: the read model afresh from postings.v1, swapped in atomically.

1. **load** -- from the beginning of the log up to the high-water marks taken at the
   start, into ``postings_rebuild``: only a primary key, no secondary or vector index
   (bulk mode). Each chunk goes through the sink's own code (decode, dedupe,
   ``COPY`` into staging, version-guarded upsert, version resets in log order), so the
   version rules are the sink's: highest version wins, tombstones hold, an operator's
   version reset applies, poison is skipped (the sink dead-lettered it).
2. **index** -- the live table's secondary indexes, then IVFFlat sized like the index
   manager would (plain ``CREATE INDEX``: nobody uses the table yet), then ``ANALYZE``.
3. **catch up** -- read to the *current* marks again and again until the gap is small.
4. **swap** -- one transaction: ``LOCK postings IN EXCLUSIVE MODE`` (the sink's writes
   wait, searches go on), read the last few records up to the marks, then rename the
   tables (``ACCESS EXCLUSIVE`` for milliseconds), move the index names and the
   ``vector_index`` row, and put a flush-all invalidation in the outbox. After the
   commit the invalidation is published (the workers' relay would, were we killed) and
   the old table is dropped.

The rebuilt table may be *ahead* of the old one at the swap (records the sink had not
consumed yet); when the sink gets to them they are stale no-ops. A second rebuild
refuses to start (advisory lock); the index manager stands aside while one runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import asyncpg
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random

from schemas.db.locks import AdvisoryLock
from schemas.settings import Settings
from streams.index import IndexPolicy
from streams.invalidations import build_invalidation
from streams.ops.errors import AlreadyRunning, OpsError
from streams.ops.kafka import producer
from streams.rebuild import table
from streams.rebuild.connect import connect_db
from streams.rebuild.log import LogReader
from streams.runtime import worker_id
from streams.sink import sql
from streams.sink.batch import Round, rounds
from streams.sink.records import Record, chunks, decode_records
from streams.sink.writer import PostingsWriter

log = structlog.get_logger("streams.rebuild")

QUICK_ROUND_S = 0.5


class Progress(Protocol):
    """What the CLI's progress bar (or a test) is told."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, records: int, events: int, rows: int) -> None: ...


class _Silent:
    def phase(self, name: str, total: int | None) -> None:
        pass

    def advance(self, records: int, events: int, rows: int) -> None:
        pass


@dataclass
class RebuildReport:
    events_read: int = 0
    records_read: int = 0
    rows: int = 0
    live_rows: int = 0
    tombstones: int = 0
    skipped_poison: int = 0
    catch_up_rounds: int = 0
    swap_attempts: int = 0
    seconds_loading: float = 0.0
    seconds_indexing: float = 0.0
    seconds_catching_up: float = 0.0
    seconds_swapping: float = 0.0
    seconds_paused: float = 0.0  # the sink's writes waited this long (EXCLUSIVE lock held)
    seconds_total: float = 0.0
    postings_per_s: float = 0.0
    vector_index: str | None = None
    vector_index_lists: int | None = None
    secondary_indexes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass
class _Loader:
    """Applies records to the new table through the sink's writer.

    Decoding (Python) of the next chunk overlaps the database's work on the previous
    one: at most one write is in flight, and writes run in log order.
    """

    writer: PostingsWriter
    dim: int
    partitions: int
    pack_max: int
    batch_events: int
    progress: Progress
    report: RebuildReport
    pending: asyncio.Task[None] | None = None

    async def __call__(self, records: Sequence[Record]) -> None:
        for chunk in chunks(records, self.batch_events):
            decoded, poison = decode_records(
                list(chunk),
                dim=self.dim,
                partitions=lambda _topic: self.partitions,
                pack_max=self.pack_max,
            )
            steps = rounds(decoded)  # the sink's own order, version resets included
            await self.flush()
            self.pending = asyncio.create_task(
                self._write(len(chunk), len(decoded) + len(poison), len(poison), steps)
            )

    async def _write(self, records: int, events: int, poison: int, steps: list[Round]) -> None:
        changed = 0
        for step in steps:
            result = await self.writer.write(step.winners, step.fallbacks, step.resets)
            self.report.skipped_poison += len(result.rejected)
            changed += len(result.changed)
        self.report.skipped_poison += poison
        self.report.events_read += events
        self.progress.advance(records, events, changed)

    async def flush(self) -> None:
        """Wait for the write in flight (re-raising its error)."""
        task, self.pending = self.pending, None
        if task is not None:
            await task

    async def cancel(self) -> None:
        task, self.pending = self.pending, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


async def rebuild(
    settings: Settings,
    *,
    progress: Progress | None = None,
    catch_up_gap: int = 500,
    max_rounds: int = 20,
    batch_events: int = 5000,
    lock_timeout_s: float = 2.0,
    swap_attempts: int = 10,
    policy: IndexPolicy | None = None,
) -> RebuildReport:
    """Rebuild the read model from the log and swap it in; see the module docstring."""
    progress = progress or _Silent()
    policy = policy or IndexPolicy(min_rows=settings.vector_index_min_rows)
    report = RebuildReport()
    started = time.perf_counter()
    conn = await connect_db(settings)
    writer: PostingsWriter | None = None
    vector: table.VectorIndex | None = None
    load: _Loader | None = None
    owner = False
    reader = LogReader(settings)
    try:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", AdvisoryLock.REBUILD):
            raise AlreadyRunning("rebuild")
        owner = True  # from here on postings_rebuild is ours to drop on failure
        if await conn.fetchval("SELECT to_regclass($1)", table.LIVE) is None:
            raise OpsError("table postings does not exist; `jobstream up` migrates the database")
        await reader.start()
        log.info("waiting for the vector index manager to stand aside")
        await conn.execute("SELECT pg_advisory_lock($1)", AdvisoryLock.VECTOR_INDEX)
        await table.create_new(conn)
        writer = PostingsWriter(
            settings.postgres_dsn,
            dim=settings.embedding_dim,
            source=f"rebuild:{worker_id()}",
            pool_size=1,
            timeout_s=600.0,
            table=table.NEW,
            outbox=False,
        )
        load = _Loader(
            writer,
            settings.embedding_dim,
            reader.partitions,
            settings.pack_max_events,
            batch_events,
            progress,
            report,
        )

        # 1. load
        t0 = time.perf_counter()
        marks = await reader.end_offsets()
        progress.phase("loading", reader.gap(marks))
        await reader.read_until(marks, load)
        await load.flush()
        report.seconds_loading = time.perf_counter() - t0

        # 2. index
        t0 = time.perf_counter()
        progress.phase("indexing", None)
        report.secondary_indexes = await table.build_secondary(conn)
        vector = await table.build_vector(conn, policy)
        await conn.execute(f"ANALYZE {table.NEW}")
        report.seconds_indexing = time.perf_counter() - t0

        # 3. catch up until the gap is small
        t0 = time.perf_counter()
        for _ in range(max_rounds):
            marks = await reader.end_offsets()
            gap = reader.gap(marks)
            if gap <= catch_up_gap:
                break
            report.catch_up_rounds += 1
            progress.phase("catching up", gap)
            round_started = time.perf_counter()
            await reader.read_until(marks, load)
            await load.flush()
            if time.perf_counter() - round_started < QUICK_ROUND_S:
                break  # what arrived meanwhile is a fraction of a second's worth
        report.seconds_catching_up = time.perf_counter() - t0

        # 4. swap
        t0 = time.perf_counter()
        progress.phase("swapping", None)
        outbox_id, payload = await _swap(
            conn, reader, load, report, vector, policy, lock_timeout_s, swap_attempts
        )
        report.seconds_swapping = time.perf_counter() - t0
        await _announce(settings, conn, outbox_id, payload)
        await _drop_retired(conn, lock_timeout_s)
    except BaseException:
        if load is not None:
            await load.cancel()
        if owner and not conn.is_closed():
            try:
                await table.drop_new(conn)
            except Exception as exc:  # the next rebuild drops it anyway
                log.warning("could not drop the unfinished table", error=repr(exc))
        raise
    finally:
        await reader.stop()
        if writer is not None:
            await writer.close()
        await conn.close()  # releases both advisory locks
    report.records_read = reader.records_read
    report.vector_index = None if vector is None else vector.name
    report.vector_index_lists = None if vector is None else vector.lists
    report.seconds_total = time.perf_counter() - started
    report.postings_per_s = report.events_read / report.seconds_total if report.seconds_total else 0
    log.info("rebuild done", **report.to_json())
    return report


async def _swap(
    conn: asyncpg.Connection,
    reader: LogReader,
    load: _Loader,
    report: RebuildReport,
    vector: table.VectorIndex | None,
    policy: IndexPolicy,
    lock_timeout_s: float,
    attempts: int,
) -> tuple[int, bytes]:
    """The brief pause: freeze the live table's writers, read the rest, rename -- one
    transaction, retried when a lock is not granted within ``lock_timeout_s``."""
    message = build_invalidation([], source=f"rebuild:{worker_id()}")
    message.flush_all = True
    payload = message.SerializeToString()
    async for attempt in AsyncRetrying(
        retry=retry_if_exception_type(asyncpg.LockNotAvailableError),
        wait=wait_random(0.2, 1.0),
        stop=stop_after_attempt(attempts),
        reraise=True,
    ):
        with attempt:
            report.swap_attempts += 1
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
                # EXCLUSIVE: the sink's writes wait, reads (searches) go on.
                await conn.execute(f"LOCK TABLE {table.LIVE} IN EXCLUSIVE MODE")
                paused = time.perf_counter()
                marks = await reader.end_offsets()
                await reader.read_until(marks, load)
                await load.flush()
                await table.swap(
                    conn,
                    secondary=report.secondary_indexes,
                    vector=vector,
                    opclass=policy.opclass,
                )
                outbox_id = int(await conn.fetchval(sql.OUTBOX_INSERT, payload))
            report.seconds_paused = time.perf_counter() - paused
    # Counted after the commit, outside the pause (a count of a million rows takes a second).
    counts = await conn.fetchrow(
        f"SELECT count(*) AS rows, count(*) FILTER (WHERE deleted) AS tombstones FROM {table.LIVE}"
    )
    report.rows = int(counts["rows"])
    report.tombstones = int(counts["tombstones"])
    report.live_rows = report.rows - report.tombstones
    return outbox_id, payload


async def _announce(
    settings: Settings, conn: asyncpg.Connection, outbox_id: int, payload: bytes
) -> None:
    """Publish the flush-all invalidation; if this fails the workers' relay sends it."""
    try:
        async with producer(settings, role="rebuild") as client:
            await client.send_and_wait(settings.topic_invalidations, payload)
        await conn.execute(sql.OUTBOX_DELETE, [outbox_id])
    except Exception as exc:
        log.warning("flush-all invalidation left to the workers' relay", error=repr(exc))


async def _drop_retired(conn: asyncpg.Connection, lock_timeout_s: float) -> None:
    """Drop the old table once queries that started on it have finished."""
    await conn.execute(f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'")
    for _ in range(30):
        try:
            await table.drop_retired(conn)
            return
        except asyncpg.LockNotAvailableError:
            await asyncio.sleep(0.5)
    log.warning("old table still in use; the next rebuild drops it", table=table.RETIRED)
