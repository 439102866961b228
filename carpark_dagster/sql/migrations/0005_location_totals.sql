-- Closed sessions and their charges per location, kept up to date by every write to
-- parking_sessions (statement triggers over the changed rows only). The search
-- reconciliation reads these few rows each tick instead of aggregating the whole history.
CREATE TABLE carpark.location_totals (
    location_id         text COLLATE "C" PRIMARY KEY,
    sessions            bigint NOT NULL DEFAULT 0,
    total_charge_cents  bigint NOT NULL DEFAULT 0
);

INSERT INTO carpark.location_totals (location_id, sessions, total_charge_cents)
SELECT location_id, count(*), coalesce(sum(charge_cents), 0)
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
GROUP BY location_id;

CREATE FUNCTION carpark.add_to_location_totals() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Each branch reads only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO carpark.location_totals AS t (location_id, sessions, total_charge_cents)
        SELECT location_id, count(*), sum(charge_cents)
        FROM new_rows WHERE exit_time IS NOT NULL GROUP BY location_id
        ON CONFLICT (location_id) DO UPDATE
            SET sessions = t.sessions + EXCLUDED.sessions,
                total_charge_cents = t.total_charge_cents + EXCLUDED.total_charge_cents;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO carpark.location_totals AS t (location_id, sessions, total_charge_cents)
        SELECT location_id, sum(n), sum(cents)
        FROM (
            SELECT location_id, 1 AS n, charge_cents AS cents
            FROM new_rows WHERE exit_time IS NOT NULL
            UNION ALL
            SELECT location_id, -1, -charge_cents FROM old_rows WHERE exit_time IS NOT NULL
        ) AS change
        GROUP BY location_id
        ON CONFLICT (location_id) DO UPDATE
            SET sessions = t.sessions + EXCLUDED.sessions,
                total_charge_cents = t.total_charge_cents + EXCLUDED.total_charge_cents;
    ELSE
        INSERT INTO carpark.location_totals AS t (location_id, sessions, total_charge_cents)
        SELECT location_id, -count(*), -sum(charge_cents)
        FROM old_rows WHERE exit_time IS NOT NULL GROUP BY location_id
        ON CONFLICT (location_id) DO UPDATE
            SET sessions = t.sessions + EXCLUDED.sessions,
                total_charge_cents = t.total_charge_cents + EXCLUDED.total_charge_cents;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER location_totals_on_insert AFTER INSERT ON carpark.parking_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION carpark.add_to_location_totals();
CREATE TRIGGER location_totals_on_update AFTER UPDATE ON carpark.parking_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION carpark.add_to_location_totals();
CREATE TRIGGER location_totals_on_delete AFTER DELETE ON carpark.parking_sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION carpark.add_to_location_totals();

GRANT SELECT ON carpark.location_totals TO carpark_pipeline, carpark_reader;
GRANT INSERT, UPDATE ON carpark.location_totals TO carpark_pipeline;
