"""The ``dlq list`` table: the reason is the point of the listing, so it is never cut.

The default view fits the terminal: four columns, so 80 columns leave the reason room,
and the reason wraps and folds (a long word such as ``jobstream.v1.PostingEventPack`` is
split, never ellipsised). ``--wide`` adds when, from where and whether it was redriven,
one line per letter at the table's natural width whatever the terminal (for ``grep`` and
``less -S``), like ``kubectl -o wide``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def letters_table(rows: Iterable[Mapping[str, object]], *, wide: bool = False) -> Table:
    """One row per letter (``DeadLetter.to_json()`` plus ``redriven``), as plain text."""
    table = Table(expand=not wide)
    table.add_column("letter", no_wrap=True)
    if wide:
        table.add_column("dead-lettered", no_wrap=True)
    table.add_column("error class", overflow="fold", no_wrap=wide)
    table.add_column("posting", overflow="fold", no_wrap=wide, max_width=None if wide else 32)
    if wide:
        table.add_column("from", no_wrap=True)
        table.add_column("redriven", no_wrap=True)
    table.add_column("why", overflow="fold", no_wrap=wide, ratio=None if wide else 1)
    for r in rows:
        cells = [f"{r['partition']}:{r['offset']}"]
        if wide:
            cells.append(str(r["dead_lettered_at"])[:19])
        cells += [str(r["error_class"]), str(r.get("posting_id") or "-")]
        if wide:
            cells += [str(r["origin"]), "yes" if r.get("redriven") else ""]
        cells.append(str(r["error_message"]))
        table.add_row(*(Text(c) for c in cells))  # a reason's [brackets] are not markup
    return table


def print_letters(console: Console, rows: Iterable[Mapping[str, object]], *, wide: bool) -> None:
    """The table on ``console``; wide at its natural width, past the terminal's edge."""
    table = letters_table(rows, wide=wide)
    if not wide:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update(width=1_000_000), table).maximum
    Console(file=console.file, width=natural, highlight=False, color_system=None).print(table)
