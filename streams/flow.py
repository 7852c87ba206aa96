"""Back-pressure by bytes: Faust bounds its buffers in records, a pack can be 512 KB.

A worker catching up on a backlog of packs would otherwise hold ``sink_batch_max``
records of up to 512 KB each in its take buffer. :class:`ByteBudget` is a Faust stream
processor that holds the stream back while the records taken but not yet durable exceed
``limit`` bytes (one record is always admitted, however big, so nothing stalls).
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

T = TypeVar("T")


class ByteBudget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._released = asyncio.Event()

    async def admit(self, value: T) -> T:
        """Stream processor: wait until the record fits, then count it."""
        size = len(value) if isinstance(value, bytes | bytearray) else 0
        while size and self.used and self.used + size > self.limit:
            self._released.clear()
            await self._released.wait()
        self.used += size
        return value

    def release(self, size: int) -> None:
        """Records of this many bytes are durable (or dropped): let the stream go on."""
        self.used = max(0, self.used - size)
        self._released.set()
