-- The earnings report (docs/reporting.md): every computation of location_earnings, per period
-- and location, kept with its time so the figures can be charted and audited.

-- One row per (computation, period, location); location_id '*' is the row of all locations,
-- the only one carrying the earnings by hour of day (24 entries, hour 0 to 23 in carpark
-- time, by exit time). Money in integer cents; stays in whole seconds.
CREATE TABLE carpark.earnings_reports (
    computed_at           timestamptz NOT NULL,
    period                text COLLATE "C" NOT NULL,
    location_id           text COLLATE "C" NOT NULL,
    period_start          timestamptz NOT NULL,
    period_end            timestamptz NOT NULL CHECK (period_end >= period_start),
    top_rank              integer CHECK (top_rank >= 1),
    sessions              bigint NOT NULL CHECK (sessions >= 0),
    total_charge_cents    bigint NOT NULL,
    average_charge_cents  numeric(14, 2),
    average_stay_seconds  bigint,
    median_stay_seconds   bigint,
    occupied              integer,
    capacity              integer,
    hourly_charge_cents   bigint[] CHECK (hourly_charge_cents IS NULL
                                          OR cardinality(hourly_charge_cents) = 24),
    PRIMARY KEY (computed_at, period, location_id)
);

-- The report reads closed sessions by exit time (today, the last 24 hours, the last 7 days):
-- an index on exit_time over the closed ones keeps that read proportional to the period,
-- not to the history. The included columns are those the report aggregates.
CREATE INDEX parking_sessions_closed_by_exit ON carpark.parking_sessions (exit_time)
    INCLUDE (location_id, charge_cents, duration_seconds)
    WHERE status = 'closed';
