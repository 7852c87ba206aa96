"""Alert delivery (issue #13): alerts.v1 -> signed webhooks and emails, each exactly where
the saved search asked, never twice.

Each channel is a consumer group of its own on alerts.v1 (:mod:`.intake`): an alert is
written to the channel's ledger table (migration 0010, PK the alert) before its offset is
committed, so a replay or a restart queues nothing twice. A sender loop then works off
the ledger's due rows: :mod:`.webhooks` (HMAC-signed POSTs, backoff, the webhook
dead-letter topic, :mod:`.redrive`) and :mod:`.email` (immediate or daily digests over
SMTP, at most once). ``python -m streams.alerts.delivery`` runs both.
"""
