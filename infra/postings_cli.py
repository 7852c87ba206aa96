"""``jobstream postings reset-version ID --to N``: undo a runaway version through the log.

A posting whose version guard was pushed out of reach (a delete or update at 2^63-1, by a
bug or a hostile key) takes no later version. This writes a version-reset event
(``PostingEvent.version_reset``) to postings.v1 with the shared producer; the sink sets
the row's version to N whatever it is (content and deleted flag unchanged), so versions
above N land again. The log stays the truth: rebuild and reprocessing apply the reset
where it sits. An operator command: it needs Kafka access, as the admin mutation
``resetPostingVersion`` needs an admin key. Exit codes: 0 written, 2 bad input,
3 Kafka unreachable.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from schemas import kafka
from schemas.domain import InvalidPosting, VersionReset, encode_event, version_reset
from schemas.settings import Settings, settings_or_exit
from schemas.topics import CONTENT_TYPE_EVENT

postings_app = typer.Typer(
    name="postings",
    help="Operator commands on single postings, written as events to the log.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
PRODUCER_ID = "ops"


async def _write(settings: Settings, event: VersionReset) -> tuple[int, int]:
    producer = kafka.producer(settings, "ops", request_timeout_ms=15_000)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            settings.topic_postings,
            encode_event(event),
            key=event.id.encode(),
            headers=[
                ("producer-id", PRODUCER_ID.encode()),
                ("content-type", CONTENT_TYPE_EVENT.encode()),
            ],
        )
    finally:
        await producer.stop()
    return meta.partition, meta.offset


@postings_app.command("reset-version")
def reset_version(
    posting_id: Annotated[str, typer.Argument(metavar="ID", help="The posting's id.")],
    to: Annotated[
        int, typer.Option("--to", help="The version the posting's row takes (1 .. 2^63-1).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Reset a posting's version guard to N through an event in the log.

    Example: [bold]jobstream postings reset-version acme:job-42 --to 7[/bold], then
    publish version 8 or higher.
    """
    settings = settings_or_exit()
    try:
        event = version_reset(posting_id, to, producer_id=PRODUCER_ID, now=datetime.now(UTC))
    except InvalidPosting as exc:
        err.print(f"[red]{exc.field}: {exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    try:
        partition, offset = asyncio.run(_write(settings, event))
    except Exception as exc:  # aiokafka raises several types for an unreachable cluster
        err.print(f"[red]Kafka did not acknowledge the reset: {exc!r}; nothing was written[/red]")
        raise typer.Exit(EXIT_UNREACHABLE) from None
    report = {
        "id": event.id,
        "version": event.version,
        "topic": settings.topic_postings,
        "partition": partition,
        "offset": offset,
    }
    if as_json:
        out.print_json(json.dumps(report))
        return
    out.print(
        f"reset posting {event.id!r} to version {event.version} "
        f"({settings.topic_postings} partition {partition} offset {offset}); the sink applies "
        f"it in order, then versions above {event.version} land again"
    )
