"""``python -m gateway``: run the ingest gateway in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
import sys

from gateway.server import GatewayStartError, serve
from schemas import tracing
from schemas.logs import configure
from schemas.settings import settings_or_exit


def main() -> int:
    settings = settings_or_exit()
    configure(settings.log_level)
    tracing.configure(tracing.GATEWAY)
    try:
        asyncio.run(serve(settings))
    except GatewayStartError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
