"""``jobstream gateway`` and ``jobstream produce`` (registered in infra/cli.py).

Heavy imports (grpc, aiokafka, numpy) live inside the command bodies so ``jobstream up``
and ``--help`` stay fast. Exit codes of ``produce``: 0 everything accepted, 1 some
postings rejected, 2 bad usage / settings / input file, 3 the gateway was unreachable or
refused the stream (the message says what to fix).
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
from collections.abc import AsyncIterable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

if TYPE_CHECKING:
    from gateway.client import IngestError
    from gateway.produce import ProduceResult
    from gateway.sources import Item
    from schemas.settings import Settings

err = Console(stderr=True)
out = Console()

EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_GATEWAY = 3

Items = Iterable["Item"] | AsyncIterable["Item"]


def _settings() -> Settings:
    from schemas.settings import settings_or_exit

    return settings_or_exit()


def gateway_command(
    port: Annotated[
        int | None, typer.Option("--port", help="Listen port (default JOBSTREAM_GATEWAY_PORT).")
    ] = None,
    record_format: Annotated[
        str | None,
        typer.Option(
            "--record-format",
            help="Kafka record layout: 'pack' (default; one PostingEventPack per partition "
            "and batch) or 'event' (one record per posting).",
        ),
    ] = None,
) -> None:
    """Run the gRPC ingest gateway in the foreground; SIGTERM/Ctrl-C drain and exit.

    Example: [bold]jobstream gateway[/bold]
    """
    from gateway.server import GatewayStartError, serve
    from schemas import tracing
    from schemas.logs import configure

    if record_format not in (None, "pack", "event"):
        err.print(f"[red]--record-format must be 'pack' or 'event' (got {record_format!r})[/red]")
        raise typer.Exit(EXIT_USAGE)
    settings = _settings()
    if port is not None:
        settings = settings.model_copy(update={"gateway_port": port})
    configure(settings.log_level)
    tracing.configure(tracing.GATEWAY)
    fmt: Literal["pack", "event"] | None = (
        None if record_format is None else "pack" if record_format == "pack" else "event"
    )
    try:
        asyncio.run(serve(settings, record_format=fmt))
    except GatewayStartError as exc:
        err.print(f"[red]gateway: {exc}[/red]")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl-C during drain
        raise typer.Exit(130) from None


def produce(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="NDJSON postings, one per line.")
    ] = None,
    generate: Annotated[
        int | None, typer.Option("--generate", min=1, help="Generate N postings instead.")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder", help="minilm | e5 | hash for --generate (default JOBSTREAM_EMBEDDER)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 0,
    embed_text: Annotated[
        str,
        typer.Option(
            "--embed-text",
            help="full | summary | brief: what --generate embeds; summary (title, skills, "
            "first three sentences) is about twice as fast as full, brief (title and skills) "
            "about three times as fast as summary with e5.",
        ),
    ] = "full",
    embedding_cache: Annotated[
        bool,
        typer.Option(
            "--embedding-cache/--no-embedding-cache",
            help="Keep model vectors on disk (JOBSTREAM_EMBEDDING_CACHE_DIR): a re-run "
            "of the same postings skips the model.",
        ),
    ] = True,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="Postings per batch (<= max_batch_records)."),
    ] = None,
    producer_id: Annotated[
        str | None,
        typer.Option(
            "--producer-id",
            help="Resumable identity; default derived from the input, so a re-run continues "
            "its sequence numbers.",
        ),
    ] = None,
    window: Annotated[int, typer.Option("--window", min=1, help="Un-acked batches.")] = 8,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="host:port, or several gateways as ipv4:HOST:PORT,HOST:PORT (round robin); "
            "default JOBSTREAM_GATEWAY_HOST:PORT.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="Seconds to keep retrying an unreachable gateway."),
    ] = 30.0,
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file",
            help="File holding the API key (publish scope) to send; default JOBSTREAM_API_KEY, "
            "else JOBSTREAM_INGEST_TOKEN, else the demo key (JOBSTREAM_HOME/keys/demo.token).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Stream postings to the gateway; resumes after a gateway restart.

    Prints accepted and rejected counts with the reasons; exits 1 if anything was
    rejected. Examples: [bold]jobstream produce --file postings.ndjson[/bold],
    [bold]jobstream produce --generate 1000 --embedder hash[/bold]
    """
    if (file is None) == (generate is None):
        err.print("[red]give exactly one of --file PATH or --generate N[/red]")
        raise typer.Exit(EXIT_USAGE)
    settings = _settings()
    from schemas.logs import configure

    # Logs go to stderr (stdout is the summary / --json); reconnects are warnings.
    configure("WARNING" if settings.log_level == "INFO" else settings.log_level)
    target = gateway or settings.gateway_target
    size = min(batch_size or 500, settings.max_batch_records)
    if batch_size is not None and batch_size > settings.max_batch_records:
        err.print(
            f"[yellow]--batch-size {batch_size} is above the gateway's limit "
            f"{settings.max_batch_records} (JOBSTREAM_MAX_BATCH_RECORDS); using {size}[/yellow]"
        )
    from gateway.client import IngestError, default_producer_id

    if file is not None:
        items, total, source = _file_source(file)
    else:
        assert generate is not None
        kind = embedder or settings.embedder
        cache_dir = settings.embedding_cache_dir if embedding_cache else None
        if embed_text not in ("full", "summary", "brief"):
            err.print(
                f"[red]--embed-text must be 'full', 'summary' or 'brief' (got {embed_text!r})[/red]"
            )
            raise typer.Exit(EXIT_USAGE)
        items, total, source = _generated_source(
            generate, seed, kind, settings.embedding_dim, cache_dir, embed_text
        )
    pid = producer_id or default_producer_id(source)
    token = _api_key(settings, key_file)
    try:
        result = asyncio.run(
            _run(items, total, target, pid, token, size, window, settings, timeout, as_json)
        )
    except IngestError as exc:
        _gateway_error(exc, target)
        raise typer.Exit(EXIT_GATEWAY) from None
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_summary(result)
    raise typer.Exit(EXIT_REJECTED if result.rejected else 0)


def _api_key(settings: Settings, key_file: Path | None) -> str | None:
    """The key to send: --key-file, JOBSTREAM_API_KEY, the bootstrap token, the demo key."""
    from schemas.auth.keys import key_file as saved_key
    from schemas.auth.keys import read_token
    from schemas.errors import BadInputError

    if key_file is None:
        for secret in (settings.api_key, settings.ingest_token):
            if secret is not None:
                return secret.get_secret_value()
        demo = saved_key(settings.home, "demo")
        if not demo.is_file():
            return None
        key_file = demo
    try:
        return read_token(key_file).get_secret_value()
    except BadInputError as exc:
        err.print(f"[red]--key-file: {exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from None


def _file_source(path: Path) -> tuple[Items, int, str]:
    from gateway.sources import count_lines, read_ndjson

    if not path.exists():
        err.print(f"[red]file not found: {path}[/red]")
        raise typer.Exit(EXIT_USAGE)
    if not path.is_file():
        err.print(f"[red]not a file: {path}[/red]")
        raise typer.Exit(EXIT_USAGE)
    try:
        total = count_lines(path)
    except OSError as exc:
        err.print(f"[red]cannot read {path}: {exc.strerror or exc}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    return read_ndjson(path), total, f"file:{path.resolve()}"


def _generated_source(
    n: int,
    seed: int,
    kind: str,
    dim: int,
    cache_dir: Path | None = None,
    embed_text: str = "full",
) -> tuple[Items, int, str]:
    try:
        import gateway.generator  # noqa: F401
    except ImportError as exc:
        err.print(f"[red]the posting generator (gateway.generator) is unavailable: {exc}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    from schemas.embedding import EMBEDDER_KINDS, ModelUnavailableError, make_embedder

    if kind not in EMBEDDER_KINDS:
        kinds = ", ".join(EMBEDDER_KINDS)
        err.print(f"[red]--embedder must be one of {kinds} (got {kind!r})[/red]")
        raise typer.Exit(EXIT_USAGE)
    try:
        model = make_embedder(kind, dim)
    except (ModelUnavailableError, ValueError) as exc:
        err.print(f"[red]embedder {kind!r}: {exc}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    from gateway.sources import generated

    compute: Callable[[list[str]], object] = model.embed
    if cache_dir is not None and kind != "hash":  # hashing is cheaper than a lookup
        from gateway import embedding_seed
        from gateway.embedding_cache import EmbeddingCache, cache_path

        seed_vectors = embedding_seed.load(model.name, dim)
        store = EmbeddingCache(cache_path(cache_dir, model.name), dim, seed=seed_vectors)
        compute = functools.partial(store.embed, compute=model.embed)

    async def embed(texts: list[str]) -> object:
        return await asyncio.to_thread(compute, texts)

    from gateway.generator import EMBED_TEXTS

    items = generated(n, seed=seed, embed=embed, model=model.name, text=EMBED_TEXTS[embed_text])
    suffix = "" if embed_text == "full" else f":{embed_text}"
    return items, n, f"generate:{n}:{seed}:{model.name}{suffix}"


async def _run(
    items: Items,
    total: int,
    target: str,
    producer_id: str,
    token: str | None,
    batch_size: int,
    window: int,
    settings: Settings,
    timeout: float,
    quiet: bool,
) -> ProduceResult:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from gateway.produce import produce_items

    with Progress(
        TextColumn("[bold cyan]producing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    ) as progress:
        task = progress.add_task("produce", total=total)
        return await produce_items(
            items,
            target=target,
            producer_id=producer_id,
            token=token,
            batch_size=batch_size,
            window=window,
            max_message_bytes=settings.max_message_bytes,
            reconnect_timeout_s=timeout,
            on_progress=lambda n: progress.advance(task, n),
        )


def _gateway_error(exc: IngestError, target: str) -> None:
    import grpc

    if exc.unreachable:
        err.print(
            f"[red]cannot reach the gateway at {target}[/red] ({exc.details})\n"
            "Start it with [bold]jobstream gateway[/bold] (or `python -m gateway`), or point "
            "JOBSTREAM_GATEWAY_HOST / JOBSTREAM_GATEWAY_PORT (or --gateway) at a running one."
        )
    elif exc.kafka_refused:
        err.print(
            f"[red]the gateway at {target} is up, but Kafka did not take the batches[/red] "
            f"({exc.details})\nCheck the brokers with [bold]jobstream status[/bold] (too few "
            "in sync for min.insync.replicas?); once they are back, run the same command "
            "again: it resumes after the last acked batch."
        )
    elif exc.code == grpc.StatusCode.UNAUTHENTICATED:
        err.print(
            f"[red]the gateway at {target} refused the key[/red] ({exc.details})\n"
            "Create one with [bold]jobstream keys create NAME --scope publish[/bold] and pass "
            "it as JOBSTREAM_API_KEY or --key-file."
        )
    elif exc.code == grpc.StatusCode.PERMISSION_DENIED:
        err.print(f"[red]the gateway at {target} refused the stream[/red]: {exc.details}")
    else:
        err.print(f"[red]the gateway at {target} ended the stream: {exc}[/red]")


def _print_summary(result: ProduceResult) -> None:
    from rich.table import Table

    rate = f", {result.total / result.elapsed_s:,.0f}/s" if result.elapsed_s else ""
    colour = "green" if not result.rejected else "yellow"
    out.print(
        f"[{colour}]accepted {result.accepted:,}, rejected {result.rejected:,}[/{colour}] "
        f"in {result.elapsed_s:.1f} s{rate} — producer {result.producer_id}, gateway "
        f"{result.target}"
        + (f", {result.reconnects} reconnect(s)" if result.reconnects else "")
        + (f", resumed after sequence {result.resumed_from}" if result.resumed_from else "")
    )
    if not result.rejected:
        return
    reasons = Table("reason", "count", title="rejected postings")
    for reason, count in result.reasons.most_common():
        reasons.add_row(reason, f"{count:,}")
    out.print(reasons)
    examples = Table("where", "id", "reason", "message", title="first rejections")
    for e in result.sorted_examples():
        examples.add_row(e.label, e.id or "-", e.reason, e.message)
    out.print(examples)


def main() -> None:  # pragma: no cover - handy for `python -m gateway.cli`
    app = typer.Typer()
    app.command("produce")(produce)
    app.command("gateway")(gateway_command)
    sys.exit(app())
