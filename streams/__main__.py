"""``python -m streams``: run one sink worker with settings from the environment."""

from __future__ import annotations

import sys

from schemas.settings import SettingsError, load_settings


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    from streams.worker import run_worker

    run_worker(settings)


if __name__ == "__main__":
    main()
