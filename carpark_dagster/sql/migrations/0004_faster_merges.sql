-- Faster tick merges (measured with bench/bench_postgres.py):
-- * ids and keys are opaque ASCII: compare them byte-wise (COLLATE "C") instead of by locale;
-- * the partial index on open sessions is covered by parking_sessions_by_plate since 0002.
DROP INDEX carpark.parking_sessions_open;

DROP VIEW public."CarPark";
ALTER TABLE carpark.parking_sessions
    ALTER COLUMN session_id TYPE text COLLATE "C",
    ALTER COLUMN plate TYPE text COLLATE "C",
    ALTER COLUMN location_id TYPE text COLLATE "C",
    ALTER COLUMN entry_event_id TYPE text COLLATE "C",
    ALTER COLUMN exit_event_id TYPE text COLLATE "C";
ALTER TABLE carpark.gate_events
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN plate TYPE text COLLATE "C",
    ALTER COLUMN location_id TYPE text COLLATE "C";
ALTER TABLE carpark.pending_events
    ALTER COLUMN event_id TYPE text COLLATE "C",
    ALTER COLUMN plate TYPE text COLLATE "C",
    ALTER COLUMN location_id TYPE text COLLATE "C";

-- The lab's table, as a view (unchanged).
CREATE VIEW public."CarPark" AS
SELECT plate                                    AS "Plate",
       location_id                              AS "LocationID",
       entry_time                               AS "Entry_DateTime",
       exit_time                                AS "Exit_DateTime",
       (charge_cents::numeric / 100)::numeric(12, 2) AS "Parking_Charges"
FROM carpark.parking_sessions;
GRANT SELECT ON public."CarPark" TO carpark_pipeline, carpark_reader;
