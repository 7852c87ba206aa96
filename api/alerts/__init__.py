"""The API side of job alerts (issue #13): saved searches as events, their alerts read
from the ledger (:mod:`api.alerts.service`, :mod:`api.alerts.store`), and the shared
watch of open subscriptions (:mod:`api.alerts.watch`). See docs/alerts.md."""
