"""``python -m api.graphql.export [--check]``: write (or compare) api/schema.graphql.

The SDL file is the contract clients and the web UI read; a unit test fails when the
code and the file drift, and this command is how to bring them back in line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.graphql.schema import sdl

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Export the GraphQL schema as SDL.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--output", type=Path, default=SCHEMA_FILE)
    args = parser.parse_args(argv)
    text = sdl()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m api.graphql.export", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
