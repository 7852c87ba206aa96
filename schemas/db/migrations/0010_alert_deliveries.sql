-- Job alerts (issue #13): the delivery ledgers. One row per alert and channel, inserted
-- (ON CONFLICT DO NOTHING) before the sender commits its alerts.v1 offset, so a replayed
-- alert is never delivered twice; the row is also the retry schedule.
--
-- Webhooks: at least once per row (a receiver deduplicates by X-JobStream-Alert-Id); a
-- closed alert (the posting was deleted) is a row of its own beside the opening one.
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    alert_id        text NOT NULL,
    closed          boolean NOT NULL DEFAULT false,
    saved_search_id text NOT NULL,
    host            text NOT NULL,             -- the URL's host when queued: per-host fairness
    alert           bytea NOT NULL,            -- the alerts.v1 value as read (DLQ: original bytes)
    source          text NOT NULL,             -- "<topic>:<partition>:<offset>" it was read at
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    window_start    timestamptz NOT NULL DEFAULT now(),  -- retries stop retry_for_s after it
    next_attempt_at timestamptz NOT NULL DEFAULT now(),  -- also a lease while being sent
    last_status     integer,                   -- the receiver's last HTTP status
    last_error      text,
    queued_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dead_letter     text,                      -- "<partition>:<offset>" in the webhook DLQ
    PRIMARY KEY (alert_id, closed)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

-- Emails: at most once per alert. A row is claimed ('sending', digest_id) in a committed
-- transaction before the SMTP conversation; one left 'sending' by a crash is never sent
-- again ('uncertain'). IMMEDIATE rows are due at once, DAILY rows at the next digest hour.
CREATE TABLE IF NOT EXISTS email_deliveries (
    alert_id        text PRIMARY KEY,
    saved_search_id text NOT NULL,
    schedule        text NOT NULL CHECK (schedule IN ('IMMEDIATE', 'DAILY')),
    alert           bytea NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled', 'uncertain')),
    attempts        integer NOT NULL DEFAULT 0,
    window_start    timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL,
    digest_id       text,                      -- the email (one per claim) that carries it
    claimed_at      timestamptz,
    sent_at         timestamptz,
    last_error      text,
    queued_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS email_deliveries_due
    ON email_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS email_deliveries_by_search
    ON email_deliveries (saved_search_id) WHERE status IN ('pending', 'sending');
