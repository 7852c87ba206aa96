"""A weighted, FIFO-fair semaphore counting what waits for Kafka: records, or bytes.

``asyncio.Semaphore`` counts one permit per ``acquire()``; a batch of 1,000 records would
need 1,000 awaits and gives no fairness between a big and a small waiter. This budget
takes ``n`` permits at once, first come first served, so one stream cannot starve
another and memory stays bounded by the sum of the budgets. The gateway keeps four: records
and bytes, per stream and in all (bytes because a record count alone lets 1,000 large
postings weigh a thousand times 1,000 small ones).
"""

from __future__ import annotations

import asyncio
from collections import deque


class Budget:
    """``capacity`` units may be in flight; ``acquire(n)`` waits until ``n`` are free.

    A request larger than the capacity is clamped to the capacity (it then runs alone)
    rather than deadlocking; :meth:`acquire` returns the number actually taken, which is
    what :meth:`release` must be given back.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._free = capacity
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def in_use(self) -> int:
        return self.capacity - self._free

    async def acquire(self, n: int) -> int:
        n = max(1, min(n, self.capacity))
        if not self._waiters and self._free >= n:
            self._free -= n
            return n
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (n, future)
        self._waiters.append(entry)
        try:
            await future
        except BaseException:
            if future.done() and not future.cancelled():
                # Granted just as we were cancelled: hand the permits back.
                self.release(n)
            else:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()
            raise
        return n

    def release(self, n: int) -> None:
        self._free = min(self.capacity, self._free + n)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._free:
            n, future = self._waiters.popleft()
            if future.done():  # cancelled while queued
                continue
            self._free -= n
            future.set_result(None)
