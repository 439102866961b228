-- The earnings report's PostgreSQL side in time proportional to the period's five-minute
-- buckets, not to its sessions (docs/reporting.md, "How it stays cheap"): closed sessions
-- summed per location and five-minute bucket of their exit, and cars parked per location,
-- kept by the statement triggers that already keep location_totals (0005), over the
-- changed rows only.

CREATE TABLE carpark.exit_rollup (
    location_id         text COLLATE "C" NOT NULL,
    exit_bucket         timestamptz NOT NULL,  -- date_bin('5 minutes', exit_time, epoch)
    sessions            bigint NOT NULL,
    total_charge_cents  bigint NOT NULL,
    -- Stays: sessions with a duration (all the ticks' have one; a row from before 0002 may
    -- not) and the sum of their durations, so the average is exactly avg(duration_seconds).
    timed_sessions      bigint NOT NULL,
    stay_seconds        bigint NOT NULL,
    PRIMARY KEY (exit_bucket, location_id)
);
GRANT SELECT ON carpark.exit_rollup TO carpark_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON carpark.exit_rollup TO carpark_pipeline;

INSERT INTO carpark.exit_rollup
SELECT location_id, date_bin('5 minutes', exit_time, TIMESTAMPTZ 'epoch'), count(*),
       sum(charge_cents), count(duration_seconds), coalesce(sum(duration_seconds), 0)
FROM carpark.parking_sessions
WHERE status = 'closed'
GROUP BY 1, 2;

ALTER TABLE carpark.location_totals ADD COLUMN parked bigint NOT NULL DEFAULT 0;
INSERT INTO carpark.location_totals AS t (location_id, parked)
SELECT location_id, count(*) FROM carpark.parking_sessions WHERE status = 'open'
GROUP BY location_id
ON CONFLICT (location_id) DO UPDATE SET parked = EXCLUDED.parked;

-- One function for the three statement triggers of 0005, now also keeping the rollup and
-- the parked cars. The change is the new rows (+1) and the old rows (-1) of the statement,
-- whichever transition tables its event has; one statement updates both tables.
CREATE OR REPLACE FUNCTION carpark.add_to_location_totals() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    change text := CASE TG_OP
        WHEN 'INSERT' THEN 'SELECT *, 1 AS sign FROM new_rows'
        WHEN 'DELETE' THEN 'SELECT *, -1 AS sign FROM old_rows'
        ELSE 'SELECT *, 1 AS sign FROM new_rows UNION ALL SELECT *, -1 FROM old_rows'
    END;
BEGIN
    EXECUTE format($sql$
        WITH change AS (%s),
        totals AS (
            INSERT INTO carpark.location_totals AS t
                (location_id, sessions, total_charge_cents, parked)
            SELECT location_id,
                   coalesce(sum(sign) FILTER (WHERE status = 'closed'), 0),
                   coalesce(sum(sign * charge_cents) FILTER (WHERE status = 'closed'), 0),
                   coalesce(sum(sign) FILTER (WHERE status = 'open'), 0)
            FROM change
            WHERE status IN ('open', 'closed')
            GROUP BY location_id
            ON CONFLICT (location_id) DO UPDATE
                SET sessions = t.sessions + EXCLUDED.sessions,
                    total_charge_cents = t.total_charge_cents + EXCLUDED.total_charge_cents,
                    parked = t.parked + EXCLUDED.parked)
        INSERT INTO carpark.exit_rollup AS r
            (location_id, exit_bucket, sessions, total_charge_cents, timed_sessions,
             stay_seconds)
        SELECT location_id, date_bin('5 minutes', exit_time, TIMESTAMPTZ 'epoch'),
               sum(sign), sum(sign * charge_cents),
               coalesce(sum(sign) FILTER (WHERE duration_seconds IS NOT NULL), 0),
               coalesce(sum(sign * duration_seconds), 0)
        FROM change
        WHERE status = 'closed'
        GROUP BY 1, 2
        ON CONFLICT (exit_bucket, location_id) DO UPDATE
            SET sessions = r.sessions + EXCLUDED.sessions,
                total_charge_cents = r.total_charge_cents + EXCLUDED.total_charge_cents,
                timed_sessions = r.timed_sessions + EXCLUDED.timed_sessions,
                stay_seconds = r.stay_seconds + EXCLUDED.stay_seconds
    $sql$, change);
    RETURN NULL;
END
$fn$;
