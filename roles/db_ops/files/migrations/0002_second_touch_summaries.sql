-- Daily second-touch summary: how many deliveries were eligible for a follow-up and how many got one.
CREATE TABLE second_touch_summaries (
    metric_date         date        NOT NULL,
    channel             text        NOT NULL,
    eligible_total      bigint      NOT NULL DEFAULT 0 CHECK (eligible_total >= 0),
    second_touch_total  bigint      NOT NULL DEFAULT 0 CHECK (second_touch_total >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_date, channel),
    CHECK (second_touch_total <= eligible_total)
);
