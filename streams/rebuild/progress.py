"""A rich progress display for the rebuild: events read, rows loaded, the phase."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    """Implements :class:`streams.rebuild.run.Progress` on stderr."""

    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records · {task.fields[events]:,} events · {task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task: TaskID | None = None
        self._rows = 0
        self._events = 0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def phase(self, name: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total or 0)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(
            name, total=total, rows=self._rows, events=self._events
        )

    def advance(self, records: int, events: int, rows: int) -> None:
        self._rows += rows
        self._events += events
        if self._task is not None:
            self._progress.update(self._task, advance=records, rows=self._rows, events=self._events)
