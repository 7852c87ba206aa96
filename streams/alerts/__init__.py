"""Job alerts (issue #13, docs/alerts.md): saved searches materialised from their topic
(:mod:`.saved`), backfilled from the read model (:mod:`.backfill`), matched against every
committed posting (the matcher) and published to alerts.v1. Imports only :mod:`schemas`."""
