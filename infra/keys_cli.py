"""``jobstream keys``: create, list and revoke the API keys publishers and admins send.

Keys are records on the ``api-keys.v1`` topic (schemas/auth); every gateway and API
instance follows the topic, so a change takes effect everywhere within about a second.
A token is printed once, at creation, and never again: only its SHA-256 is stored.
Exit codes: 0 done, 2 bad input (unknown scope, bad or duplicate name, no such key),
3 Kafka unreachable.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from infra.stack import process
from schemas.auth import ApiKey, KeyRing, Scope, new_key, parse_scopes, write_key
from schemas.auth.keys import check_name, key_file, read_token, save_token, split_token
from schemas.errors import BadInputError, JobStreamError, UnavailableError
from schemas.settings import Settings, settings_or_exit

keys_app = typer.Typer(
    name="keys",
    help="API keys with scopes (publish, admin) for the gateway and GraphQL mutations.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
out = Console()
err = Console(stderr=True)

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
DEMO = "demo"
_T = TypeVar("_T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _run(settings_to_work: Callable[[Settings], Coroutine[object, object, _T]]) -> _T:
    """Load settings, run the coroutine, and map known errors to exit codes."""
    settings = settings_or_exit()
    if not _kafka_listens(settings):
        err.print(
            f"[red]cannot reach Kafka at {settings.kafka_bootstrap_servers}: nothing listens "
            "there; is Kafka up (`jobstream up`)?[/red]"
        )
        raise typer.Exit(EXIT_UNREACHABLE)
    from schemas.logs import configure

    # Logs go to stderr (stdout is the answer / --json), and only what needs attention.
    configure("WARNING" if settings.log_level == "INFO" else settings.log_level)
    try:
        return asyncio.run(settings_to_work(settings))
    except BadInputError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    except UnavailableError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except JobStreamError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None


def _kafka_listens(settings: Settings) -> bool:
    """Whether any bootstrap address accepts a connection. Refused at every one, Kafka is
    not running: say so now rather than after the key ring's 15 s of retries (a broker
    that listens but does not answer still gets those)."""
    return any(process.port_open(host, port) for host, port in settings.kafka_addresses)


async def _known(settings: Settings) -> list[ApiKey]:
    ring = KeyRing(settings, "cli", timeout_s=15.0)
    await ring.start(required=True)
    try:
        return list(ring.keys())
    finally:
        await ring.stop()


def _describe(key: ApiKey) -> dict[str, object]:
    """What may be shown of a key: never its secret or digest."""
    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(s.value for s in key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat(),
    }


async def _create(
    settings: Settings, name: str, scopes: frozenset[Scope]
) -> tuple[ApiKey, SecretStr]:
    check_name(name)
    taken = [k for k in await _known(settings) if k.active and k.name == name]
    if taken:
        raise BadInputError(
            f"an active key is already named {name!r} ({taken[0].id}); revoke it with "
            f"`jobstream keys revoke {name}` or pick another name",
            field="name",
        )
    key, token = new_key(name, scopes)
    await write_key(settings, key)
    return key, token


@keys_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A name for the holder, e.g. crawler-eu.")],
    scope: Annotated[
        list[str],
        typer.Option("--scope", "-s", help="publish (write postings) or admin; repeatable."),
    ],
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Also write the token to JOBSTREAM_HOME/keys/NAME.token (0600)."
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a key and print its token once (only its SHA-256 is kept).

    Example: [bold]jobstream keys create crawler --scope publish[/bold]
    """

    async def work(settings: Settings) -> None:
        key, token = await _create(settings, name, parse_scopes(scope))
        path = key_file(settings.home, name) if save else None
        if path is not None:
            save_token(path, token)
        if as_json:
            shown = {**_describe(key), "token": token.get_secret_value()}
            if path is not None:
                shown["file"] = str(path)
            print(json.dumps(shown, indent=2))
            return
        out.print(f"created key [bold]{key.name}[/bold] ({key.id}), scopes {_scopes(key)}")
        out.print(f"token (shown once): [bold]{token.get_secret_value()}[/bold]")
        if path is not None:
            out.print(f"saved to {path} (0600)")
        _usage(settings, token, path)

    _run(work)


@keys_app.command("list")
def list_keys(as_json: JsonFlag = False) -> None:
    """Every key with its scopes and when it was created or revoked (never secrets).

    Example: [bold]jobstream keys list --json[/bold]
    """
    keys = _run(_known)
    if as_json:
        print(json.dumps([_describe(k) for k in keys], indent=2))
        return
    table = Table("id", "name", "scopes", "created", "revoked")
    for k in keys:
        revoked = "-" if k.revoked_at is None else f"[red]{k.revoked_at:%Y-%m-%d %H:%M:%S}[/red]"
        table.add_row(k.id, k.name, _scopes(k), f"{k.created_at:%Y-%m-%d %H:%M:%S}", revoked)
    out.print(table)


@keys_app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id, or the name of an active key.")],
    as_json: JsonFlag = False,
) -> None:
    """Revoke a key: gateways and APIs refuse it within about a second.

    Example: [bold]jobstream keys revoke crawler[/bold]
    """

    async def work(settings: Settings) -> ApiKey:
        known = await _known(settings)
        matches = [k for k in known if k.id == key] or [
            k for k in known if k.name == key and k.active
        ]
        if not matches:
            raise BadInputError(f"no key with id or active name {key!r}", field="key")
        if len(matches) > 1:
            ids = ", ".join(k.id for k in matches)
            raise BadInputError(f"several active keys are named {key!r} ({ids}); give the id")
        target = matches[0]
        if target.active:
            target = target.revoked()
            await write_key(settings, target)
        return target

    revoked = _run(work)
    if as_json:
        print(json.dumps(_describe(revoked), indent=2))
    else:
        out.print(f"key [bold]{revoked.name}[/bold] ({revoked.id}) is revoked")


@keys_app.command("demo")
def demo() -> None:
    """The demo's publish key: reuse JOBSTREAM_HOME/keys/demo.token if still valid, else
    create it (revoking an older demo key whose token is lost). Idempotent; `make demo`.
    """

    async def work(settings: Settings) -> tuple[Settings, SecretStr, bool]:
        path = key_file(settings.home, DEMO)
        known = await _known(settings)
        if path.is_file():
            token = read_token(path)
            parts = split_token(token.get_secret_value())
            if parts is not None and any(k.id == parts[0] and k.active for k in known):
                return settings, token, False
        for old in (k for k in known if k.name == DEMO and k.active):
            await write_key(settings, old.revoked())
        key, token = new_key(DEMO, frozenset({Scope.PUBLISH}))
        await write_key(settings, key)
        save_token(path, token)
        return settings, token, True

    settings, token, created = _run(work)
    path = key_file(settings.home, DEMO)
    out.print(f"demo key ({'created' if created else 'kept'}): {path} (0600, publish scope)")
    out.print("`jobstream produce` sends it by default.")
    _usage(settings, token, path)


def _scopes(key: ApiKey) -> str:
    return ", ".join(sorted(s.value for s in key.scopes))


def _usage(settings: Settings, token: SecretStr, path: Path | None) -> None:
    """How to send the key: gRPC ingest through `jobstream produce`, GraphQL with curl."""
    value = f"$(cat {path})" if path is not None else token.get_secret_value()
    url = f"http://{settings.api_host}:{settings.api_port}/graphql"
    out.print(
        "send it as [bold]authorization: Bearer <token>[/bold], e.g.\n"
        f"  JOBSTREAM_API_KEY={value} jobstream produce --file postings.ndjson\n"
        f"  curl -H \"authorization: Bearer {value}\" -H 'content-type: application/json' "
        f'-d \'{{"query": "mutation {{ ... }}"}}\' {url}',
        highlight=False,
        soft_wrap=True,
    )
