"""``jobstream offsets | dlq``: registered on the operator CLI by infra/cli.py.

``jobstream replay`` lives in infra/replay_cli.py because ``--from-file`` goes through the
gateway's client, which streams may not import; its ``--from-dlq`` and
``--from-datetime`` halves are :func:`replay_dlq` and :func:`replay_datetime` here.
Heavy imports happen inside the commands so ``jobstream --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from streams.ops.console import emit_json, err, out, progress_bar, run, settings
from streams.ops.errors import EXIT_FAILED, UsageError

if TYPE_CHECKING:
    from rich.progress import TaskID

    from schemas.settings import Settings
    from streams.ops.dead_letters import DlqSummary
    from streams.ops.offsets import ResetSpec

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout.")]
TopicFlag = Annotated[
    str | None,
    typer.Option(
        "--topic",
        help="The dead-letter topic: JOBSTREAM_TOPIC_DEAD_LETTERS (default) or "
        "JOBSTREAM_TOPIC_WEBHOOK_DEAD_LETTERS (alert webhooks).",
    ),
]

offsets_app = typer.Typer(
    name="offsets",
    help="Consumer-group offsets: where the workers are in postings.v1, and moving them.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
dlq_app = typer.Typer(
    name="dlq",
    help="Dead letters: what the sink (or the alert webhook sender) could not deliver, why, "
    "and from where.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def register_ops(app: typer.Typer) -> None:
    """Adds the log-operation commands to ``app``."""
    app.add_typer(offsets_app, name="offsets")
    app.add_typer(dlq_app, name="dlq")


# --- offsets ----------------------------------------------------------------------------
@offsets_app.command("show")
def offsets_show(
    group: Annotated[
        str | None, typer.Option("--group", "-g", help="Default: JOBSTREAM_CONSUMER_GROUP.")
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Default: the topics the group committed on.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Per partition: committed offset, log-end offset, lag, and which member owns it.

    Examples: [bold]jobstream offsets show[/bold] ·
    [bold]jobstream offsets show --group jobstream-sink --json[/bold]
    """
    from streams.ops.offsets import show_offsets

    report = run(show_offsets(settings(), group=group, topic=topic))
    if as_json:
        emit_json(report.to_json())
        return
    g = report.group
    table = Table(
        "topic", "partition", "committed", "log end", "lag", "owner",
        title=f"group {g.group} — {g.state}, {len(g.members)} member(s), lag {report.total_lag:,}",
    )  # fmt: skip
    for p in report.partitions:
        table.add_row(
            p.topic,
            str(p.partition),
            "-" if p.committed is None else f"{p.committed:,}",
            f"{p.log_end:,}",
            f"{p.lag:,}",
            p.owner or "-",
        )
    out.print(table)


@offsets_app.command("reset")
def offsets_reset(
    group: Annotated[str, typer.Option("--group", "-g", help="The consumer group (required).")],
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="Reprocess everything.")
    ] = False,
    to_latest: Annotated[
        bool, typer.Option("--to-latest", help="Skip everything not yet processed.")
    ] = False,
    to_datetime: Annotated[
        str | None,
        typer.Option(
            "--to-datetime",
            help="ISO 8601 (UTC when no offset given): the first record at or after it.",
        ),
    ] = None,
    to_offset: Annotated[
        list[str] | None,
        typer.Option(
            "--to-offset",
            help="PARTITION:OFFSET, repeatable; other partitions keep their offset.",
        ),
    ] = None,
    shift_by: Annotated[
        int | None,
        typer.Option("--shift-by", help="Move every partition by N (negative: reprocess N)."),
    ] = None,
    topic: Annotated[
        str | None, typer.Option("--topic", help="Default: JOBSTREAM_TOPIC_POSTINGS.")
    ] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Commit the new offsets (default: dry run).")
    ] = False,
    exact: Annotated[
        bool,
        typer.Option(
            "--exact",
            help="Count the postings to reprocess by reading every record (default: past "
            "1,000 records, an estimate from 100 spread over the range).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Move a stopped group's offsets; a dry run (old → new per partition) unless --execute.

    Refused while the group has active members: stop the workers first (a dry run says
    so). Counts the postings to reprocess, not Kafka records: a pack record holds ~90.
    After a reset the workers reprocess from the new offsets; the version rules make
    that harmless.

    Examples:
    [bold]jobstream offsets reset --group jobstream-sink --to-earliest[/bold] (dry run) ·
    [bold]jobstream offsets reset -g jobstream-sink --to-earliest --exact --json[/bold] ·
    [bold]jobstream offsets reset -g jobstream-sink --to-datetime 2026-11-27T02:00:00Z --execute[/bold] ·
    [bold]jobstream offsets reset -g jobstream-sink --to-offset 0:1200 --to-offset 3:0 --execute[/bold] ·
    [bold]jobstream offsets reset -g jobstream-sink --shift-by -1000 --execute[/bold]
    """  # noqa: E501
    from streams.ops.console import fail
    from streams.ops.offsets import reset_offsets

    try:
        spec = reset_spec(to_earliest, to_latest, to_datetime, to_offset, shift_by)
    except UsageError as exc:
        raise fail(exc) from None
    with progress_bar("counting postings", quiet=as_json) as progress:
        task = progress.add_task("records", total=None)
        plan = run(
            reset_offsets(
                settings(),
                group=group,
                spec=spec,
                topic=topic,
                execute=execute,
                exact=exact,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        )
    if as_json:
        emit_json(plan.to_json())
        return
    about = "≈" if plan.postings_estimated else ""
    verb = "committed" if plan.executed else "dry run — would commit"
    table = Table(
        "partition", "old", "", "new", "log end", "records", "postings",
        title=f"group {plan.group} on {plan.topic}, {spec.describe()}: {verb}",
    )  # fmt: skip
    for r in plan.rows:
        table.add_row(
            str(r.partition),
            "-" if r.old is None else f"{r.old:,}",
            "→",
            f"[bold]{r.new:,}[/bold]" if r.changed else f"{r.new:,}",
            f"{r.log_end:,}",
            f"{r.records:,}",
            f"{about}{r.postings:,}",
        )
    out.print(table)
    work = (
        f"{about}{plan.postings_to_reprocess:,} postings to reprocess "
        f"({plan.records_to_reprocess:,} records"
        + (", estimated from a sample; --exact reads them all)" if about else ")")
    )
    if plan.executed:
        out.print(f"[green]offsets committed[/green]; {work}")
    elif plan.refusal:
        out.print(f"[yellow]dry run[/yellow]: nothing changed; {work}")
        out.print(f"[red]--execute would be refused now[/red]: {plan.refusal}", highlight=False)
    else:
        out.print(f"[yellow]dry run[/yellow]: nothing changed; {work}; add --execute to commit")


def reset_spec(
    to_earliest: bool,
    to_latest: bool,
    to_datetime: str | None,
    to_offset: list[str] | None,
    shift_by: int | None,
) -> ResetSpec:
    """Exactly one of the reset flags, parsed; UsageError otherwise."""
    from streams.ops.offsets import ResetSpec
    from streams.ops.parse import parse_datetime, parse_partition_offset

    given = [
        name
        for name, present in (
            ("--to-earliest", to_earliest),
            ("--to-latest", to_latest),
            ("--to-datetime", to_datetime is not None),
            ("--to-offset", bool(to_offset)),
            ("--shift-by", shift_by is not None),
        )
        if present
    ]
    if len(given) != 1:
        raise UsageError(
            "give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, "
            f"--shift-by (got {', '.join(given) or 'none'})"
        )
    if to_earliest:
        return ResetSpec("earliest")
    if to_latest:
        return ResetSpec("latest")
    if to_datetime is not None:
        return ResetSpec("datetime", when=parse_datetime(to_datetime, "--to-datetime"))
    if to_offset:
        pairs = tuple(parse_partition_offset(t) for t in to_offset)
        seen = [p for p, _ in pairs]
        if len(set(seen)) != len(seen):
            raise UsageError(f"--to-offset names a partition twice: {', '.join(to_offset)}")
        return ResetSpec("offset", offsets=pairs)
    assert shift_by is not None
    return ResetSpec("shift", shift=shift_by)


# --- dlq --------------------------------------------------------------------------------
@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Letters to list.")] = 50,
    error_class: Annotated[
        str | None, typer.Option("--error-class", help="Only letters of this class.")
    ] = None,
    topic: TopicFlag = None,
    wide: Annotated[
        bool,
        typer.Option(
            "--wide",
            help="Also when, from where and whether redriven: one line per letter, "
            "past the terminal's edge (for grep, less -S).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """The dead letters, oldest first, with counts per error class and what was redriven.

    The posting id comes from the payload, else from the record key; the reason is
    wrapped, never cut.

    Examples: [bold]jobstream dlq list[/bold] ·
    [bold]jobstream dlq list --wide | grep unsupported_format[/bold] ·
    [bold]jobstream dlq list --error-class db_check_violation --limit 10 --json[/bold] ·
    [bold]jobstream dlq list --topic alerts.v1.webhook-dlq[/bold]
    """
    s = settings()
    dlq = dead_letter_topic(s, topic)
    with progress_bar("reading", quiet=as_json) as progress:
        task = progress.add_task(dlq, total=None)
        summary, rows = run(
            _collect_letters(
                s,
                error_class=error_class,
                limit=limit,
                on_letter=lambda: progress.update(task, advance=1),
                topic=dlq,
            )
        )
    if as_json:
        emit_json({"summary": summary.to_json(), "letters": rows})
        return
    classes = ", ".join(f"{c} {n}" for c, n in summary.by_class.most_common()) or "none"
    out.print(
        f"[bold]{summary.total:,}[/bold] dead letter(s) in {dlq} "
        f"({classes}); {summary.redriven:,} redriven"
    )
    if rows:
        from streams.ops.dlq_table import print_letters

        print_letters(out, rows, wide=wide)


def dead_letter_topic(s: Settings, topic: str | None) -> str:
    """``--topic``, checked: one of the platform's dead-letter topics (default postings')."""
    from streams.ops.console import fail

    known = (s.topic_dead_letters, s.topic_webhook_dead_letters)
    if topic is None:
        return s.topic_dead_letters
    if topic not in known:
        raise fail(
            UsageError(f"--topic {topic!r} is not a dead-letter topic: {' or '.join(known)}")
        )
    return topic


async def _collect_letters(
    s: Settings,
    *,
    error_class: str | None,
    limit: int,
    on_letter: Callable[[], None],
    topic: str | None = None,
) -> tuple[DlqSummary, list[dict[str, object]]]:
    """Count every dead letter; keep the first ``limit`` of ``error_class`` (all if None)."""
    from streams.ops.dead_letters import DlqSummary, iter_letters
    from streams.ops.ledger import read_ledger

    redriven = await read_ledger(s, topic)
    summary = DlqSummary()
    rows: list[dict[str, object]] = []
    async for letter in iter_letters(s, topic=topic):
        on_letter()
        summary.total += 1
        summary.by_class[letter.error_class] += 1
        done = letter.coordinates in redriven
        summary.redriven += done
        if (error_class is None or letter.error_class == error_class) and len(rows) < limit:
            row = {**letter.to_json(), "redriven": done}
            if topic is not None and topic == s.topic_webhook_dead_letters:
                from streams.alerts.delivery.redrive import describe

                row.update({k: v for k, v in describe(letter).items() if k != "payload"})
            rows.append(row)
    return summary, rows


@dlq_app.command("show")
def dlq_show(
    offset: Annotated[int, typer.Argument(min=0, help="The letter's offset in the DLQ.")],
    partition: Annotated[int, typer.Option("--partition", "-p", min=0)] = 0,
    topic: TopicFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """One dead letter in full: why, from where (all headers), the payload decoded.

    Examples: [bold]jobstream dlq show 12[/bold] · [bold]jobstream dlq show 12 --json[/bold]
    """
    from streams.ops.dead_letters import get_letter
    from streams.ops.ledger import read_ledger

    s = settings()
    dlq = dead_letter_topic(s, topic)

    async def fetch() -> dict[str, object]:
        letter = await get_letter(s, offset, partition, dlq)
        redriven = (await read_ledger(s, dlq)).get(letter.coordinates)
        data = {**letter.to_json(dim=s.embedding_dim), "redriven": redriven}
        if dlq == s.topic_webhook_dead_letters:
            from streams.alerts.delivery.redrive import describe

            data.update(describe(letter))
        return data

    data = run(fetch())
    if as_json:
        emit_json(data)
        return
    import json

    table = Table(show_header=False, title=f"dead letter {partition}:{offset}")
    for key in (
        "error_class", "error_message", "origin", "posting_id", "dead_lettered_at",
        "first_failed_at", "attempts", "consumer_group", "redrive_count", "redriven_from",
        "redriven",
    ):  # fmt: skip
        table.add_row(key, str(data.get(key)))
    out.print(table)
    out.print("[bold]headers[/bold]")
    out.print(data["headers"])
    out.print("[bold]payload[/bold]")
    out.print_json(json.dumps(data["payload"], default=str))


@dlq_app.command("redrive")
def dlq_redrive(
    topic: TopicFlag = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N letters.")] = None,
    error_class: Annotated[
        str | None, typer.Option("--error-class", help="Only letters of this class.")
    ] = None,
    execute: Annotated[
        bool, typer.Option("--execute", help="Really redrive (default: dry run).")
    ] = False,
    wait: Annotated[
        float,
        typer.Option("--wait", min=0, help="postings DLQ: seconds to wait for the sink."),
    ] = 60.0,
    as_json: JsonFlag = False,
) -> None:
    """Redrive dead letters, once each (a ledger records what was redriven).

    postings.v1's DLQ goes back into postings.v1 (as [bold]jobstream replay --from-dlq[/bold]);
    the alert webhook DLQ puts each letter's delivery back to pending, attempts reset.

    Examples: [bold]jobstream dlq redrive --topic alerts.v1.webhook-dlq[/bold] (dry run) ·
    [bold]jobstream dlq redrive --topic alerts.v1.webhook-dlq --execute --json[/bold]
    """
    s = settings()
    dlq = dead_letter_topic(s, topic)
    if dlq == s.topic_dead_letters:
        replay_dlq(
            limit=limit,
            error_class=[error_class] if error_class else None,
            execute=execute,
            wait_s=wait,
            max_redrives=3,
            as_json=as_json,
        )
        return
    from streams.alerts.delivery.redrive import redrive_webhooks

    with progress_bar("redrive", quiet=as_json) as progress:
        task = progress.add_task(dlq, total=None)
        report = run(
            redrive_webhooks(
                s,
                limit=limit,
                error_class=error_class,
                execute=execute,
                progress=lambda n: progress.update(task, completed=n),
            )
        )
    if as_json:
        emit_json(report.to_json())
    else:
        skipped = ", ".join(f"{k} {v}" for k, v in report.skipped.items()) or "none"
        if execute:
            done = ", ".join(f"{k} {v}" for k, v in report.outcomes.items()) or "nothing"
            out.print(
                f"[green]redriven {report.redriven:,}[/green] of {report.scanned:,} webhook "
                f"dead letter(s) ({done}; skipped: {skipped})"
            )
        else:
            out.print(
                f"[yellow]dry run[/yellow]: would redrive [bold]{report.selected:,}[/bold] of "
                f"{report.scanned:,} webhook dead letter(s) (skipped: {skipped}); add --execute"
            )
        if report.letters:
            table = Table("letter", "alert", "error class", "outcome")
            for item in report.letters[:50]:
                table.add_row(
                    str(item["letter"]),
                    str(item["alert_id"]),
                    str(item["error_class"]),
                    str(item.get("outcome", "would redrive")),
                )
            out.print(table)
    if execute and not report.ok:
        raise typer.Exit(EXIT_FAILED)


# --- replay halves (the command is infra/replay_cli.py) --------------------------------
def replay_dlq(
    *,
    limit: int | None,
    error_class: list[str] | None,
    execute: bool,
    wait_s: float,
    max_redrives: int,
    as_json: bool,
) -> None:
    """``replay --from-dlq``: :func:`streams.ops.redrive.redrive` with a progress bar."""
    from streams.ops.redrive import redrive

    s = settings()
    with progress_bar("redrive", quiet=as_json) as progress:
        tasks: dict[str, TaskID] = {}

        def tick(phase: str, done: int, total: int | None) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        report = run(
            redrive(
                s,
                limit=limit,
                error_class=error_class or None,
                execute=execute,
                wait_s=wait_s,
                max_redrives=max_redrives,
                progress=tick,
            )
        )
    if as_json:
        emit_json(report.to_json())
    else:
        skipped = ", ".join(f"{k} {v}" for k, v in report.skipped.items()) or "none"
        if not execute:
            out.print(
                f"[yellow]dry run[/yellow]: would redrive [bold]{report.selected:,}[/bold] of "
                f"{report.scanned:,} dead letter(s) (skipped: {skipped}); add --execute"
            )
        else:
            colour = "green" if report.ok else "yellow"
            out.print(
                f"[{colour}]redriven {report.redriven:,}: landed {report.landed:,}, failed "
                f"again {report.failed_again:,}, pending {report.pending:,}[/{colour}] "
                f"(scanned {report.scanned:,}, skipped: {skipped}; waited "
                f"{report.waited_s:.1f} s for group {report.group})"
            )
        if report.letters:
            table = Table("letter", "posting", "error class", "from", "outcome")
            for item in report.letters[:50]:
                table.add_row(
                    str(item["letter"]),
                    str(item["posting_id"] or "-"),
                    str(item["error_class"]),
                    str(item["origin"]),
                    str(item.get("outcome", "would redrive")),
                )
            out.print(table)
        if report.pending:
            err.print(
                "[yellow]some redriven records were not processed in time: are workers "
                "running? (`jobstream offsets show`)[/yellow]"
            )
    if execute and not report.ok:
        raise typer.Exit(EXIT_FAILED)


def replay_datetime(*, since: str, until: str | None, execute: bool, as_json: bool) -> None:
    """``replay --from-datetime``: :func:`streams.ops.replay.replay_range` with progress."""
    from streams.ops.console import fail
    from streams.ops.parse import parse_datetime
    from streams.ops.replay import replay_range

    try:
        start = parse_datetime(since, "--from-datetime")
        stop = parse_datetime(until, "--to-datetime") if until else None
    except UsageError as exc:
        raise fail(exc) from None
    s = settings()
    with progress_bar("replay", quiet=as_json) as progress:
        task = progress.add_task(s.topic_postings, total=None)
        report = run(
            replay_range(
                s,
                since=start,
                until=stop,
                execute=execute,
                progress=lambda d, t: progress.update(task, completed=d, total=t),
            )
        )
    if as_json:
        emit_json(report.to_json())
        return
    window = f"{start.isoformat()} → {stop.isoformat() if stop else 'now'}"
    if execute:
        out.print(f"[green]re-produced {report.replayed:,} record(s)[/green] of {window}")
    else:
        out.print(
            f"[yellow]dry run[/yellow]: {report.records:,} record(s) of {window} would be "
            "re-produced; add --execute"
        )
    table = Table("partition", "from offset", "to offset", "records")
    for p, (a, b) in sorted(report.ranges.items()):
        table.add_row(str(p), f"{a:,}", f"{b:,}", f"{b - a:,}")
    out.print(table)
