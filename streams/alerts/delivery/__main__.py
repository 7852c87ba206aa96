"""``python -m streams.alerts.delivery``: the alert delivery worker."""

from __future__ import annotations

from schemas.logs import configure
from schemas.settings import settings_or_exit
from streams.alerts.delivery.worker import main

if __name__ == "__main__":
    s = settings_or_exit()
    configure(s.log_level)
    main(s)
