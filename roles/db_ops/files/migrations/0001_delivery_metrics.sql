-- Daily delivery counters, one row per day and channel, written by the service.
-- Aggregates only: no message, recipient or user identifiers live here, so the ops_daily watchdog
-- can read and print them (the runbook's "privacy-first: only aggregate outputs are safe to share").
CREATE TABLE delivery_metrics (
    metric_date       date        NOT NULL,
    channel           text        NOT NULL,
    delivered_total   bigint      NOT NULL DEFAULT 0 CHECK (delivered_total >= 0),
    held_total        bigint      NOT NULL DEFAULT 0 CHECK (held_total >= 0),
    suppressed_total  bigint      NOT NULL DEFAULT 0 CHECK (suppressed_total >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_date, channel)
);

COMMENT ON TABLE delivery_metrics IS 'Daily aggregate delivery counts per channel (read by ops_daily).';
