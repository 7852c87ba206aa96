"""Read a bounded stretch of a topic: from given offsets up to the log end seen at the start.

Bounded by the end offsets taken before reading, so a scan of a busy topic terminates.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.ops.errors import OpsError

SCAN_STALL_S = 30.0


async def scan(
    client: AIOKafkaConsumer,
    start: Mapping[TopicPartition, int],
    end: Mapping[TopicPartition, int],
) -> AsyncIterator[Any]:
    """Every record with start[tp] <= offset < end[tp], per partition in offset order."""
    todo = {tp: end[tp] for tp in start if start[tp] < end[tp]}
    if not todo:
        return
    client.assign(list(todo))
    for tp in todo:
        client.seek(tp, start[tp])
    last_progress = time.monotonic()
    while todo:
        batch = await client.getmany(*todo, timeout_ms=500, max_records=2000)
        if not batch:
            if time.monotonic() - last_progress > SCAN_STALL_S:
                raise OpsError(f"reading {sorted(todo)} made no progress for {SCAN_STALL_S:.0f} s")
            await asyncio.sleep(0)
            continue
        last_progress = time.monotonic()
        for tp, records in batch.items():
            stop = todo.get(tp)
            if stop is None:
                continue
            for record in records:
                if record.offset >= stop:
                    break
                yield record
        for tp in [tp for tp in todo if tp in batch]:
            # The position, not the last record: a compacted topic has gaps.
            if await client.position(tp) >= todo[tp]:
                todo.pop(tp)
                client.pause(tp)
