"""``python -m streams``: run one sink worker with settings from the environment."""

from __future__ import annotations

from schemas.settings import settings_or_exit


def main() -> None:
    settings = settings_or_exit()
    from streams.worker import run_worker

    run_worker(settings)


if __name__ == "__main__":
    main()
