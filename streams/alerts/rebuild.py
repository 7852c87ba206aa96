"""``jobstream alerts rebuild``: ``saved_searches`` refilled from saved-searches.v1.

The topic is the truth, so the table can always be thrown away and read again: in one
transaction, every row is deleted and every record applied from the beginning of the
topic (the matcher keeps seeing the old table until the new one is complete). No
backfill: these searches are not new, and the alerts ledger is left as it is.

A materialiser running meanwhile loses nothing: the end offsets are read *after* the
delete, so a row it committed before the delete comes from a record this rebuild reads;
a row it commits later survives the delete, and its record, when this rebuild reads it
too, is no newer than the row and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import asyncpg
from aiokafka import AIOKafkaConsumer

from schemas.settings import Settings
from streams.alerts.apply import Applied, apply
from streams.alerts.saved import POLL_MS, open_topic, positions_of
from streams.sink.writer import register_vector_bytes

Progress = Callable[[int, int], None]


async def rebuild(settings: Settings, on_progress: Progress | None = None) -> Applied:
    """Empty ``saved_searches`` and refill it from its topic; ``on_progress(read, total)``
    after each batch. Returns what the records did."""
    conn = await asyncpg.connect(settings.postgres_dsn, timeout=10)
    consumer: AIOKafkaConsumer | None = None
    total = Applied()
    try:
        await register_vector_bytes(conn)
        consumer, _ = await open_topic(settings, "alerts-rebuild", {})
        starts = await positions_of(consumer)
        async with conn.transaction():
            await conn.execute("DELETE FROM saved_searches")
            ends = await consumer.end_offsets(list(starts))
            size = sum(max(0, ends[tp] - starts[tp]) for tp in starts)
            while True:
                now = await positions_of(consumer)
                read = sum(min(ends[tp], now[tp]) - starts[tp] for tp in starts)
                if on_progress is not None:
                    on_progress(read, size)
                if read >= size:
                    break
                batches = await consumer.getmany(*starts, timeout_ms=POLL_MS)
                records = [r for tp in starts for r in batches.get(tp, ())]
                total.add(await apply(conn, records, settings, False))
    finally:
        if consumer is not None:
            with contextlib.suppress(Exception):
                await consumer.stop()
        with contextlib.suppress(Exception):
            await conn.close()
    return total
