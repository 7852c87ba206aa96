"""``python -m streams.alerts``: run one alerts worker with settings from the environment."""

from __future__ import annotations

from schemas.settings import settings_or_exit


def main() -> None:
    settings = settings_or_exit()
    from streams.alerts.worker import run

    run(settings)


if __name__ == "__main__":
    main()
