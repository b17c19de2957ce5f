-- Count hard delivery failures separately from holds and suppressions (ops_daily's failure_rate).
ALTER TABLE delivery_metrics
    ADD COLUMN failed_total bigint NOT NULL DEFAULT 0 CHECK (failed_total >= 0);
