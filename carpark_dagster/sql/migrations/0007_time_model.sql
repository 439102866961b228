-- The time model (docs/time-model.md): sessions whose exit was never recorded, and how far the
-- five-minute windows have been processed.

-- A session is open (parked), closed (an exit paired with it), or ended with its exit not
-- recorded: a later entry of the same plate at the same location showed the car had left
-- (ended_by_event_id names that entry), or it stayed longer than the location's
-- max_stay_hours (ended_by_event_id is NULL). Such a session has no exit time; ended_at is
-- when the platform ended it, and its charge follows the tariff's lost-exit policy.
-- The default is a constant, so adding the column rewrites nothing; only the open sessions
-- (a few, through their partial index) are updated.
ALTER TABLE carpark.parking_sessions
    ADD COLUMN status text COLLATE "C" NOT NULL DEFAULT 'closed'
        CHECK (status IN ('open', 'closed', 'exit_not_recorded')),
    ADD COLUMN ended_at timestamptz,
    ADD COLUMN ended_by_event_id text COLLATE "C";
UPDATE carpark.parking_sessions SET status = 'open' WHERE exit_time IS NULL;
-- From now on every writer says which it is.
ALTER TABLE carpark.parking_sessions ALTER COLUMN status DROP DEFAULT;

-- A charge is known once a session is no longer open (closed: the tariff's; exit not
-- recorded: the lost-exit policy's, 0 by default).
ALTER TABLE carpark.parking_sessions
    DROP CONSTRAINT parking_sessions_check1,
    ADD CONSTRAINT parking_sessions_exit_matches_status
        CHECK ((status = 'closed') = (exit_time IS NOT NULL)),
    ADD CONSTRAINT parking_sessions_charge_once_ended
        CHECK ((status = 'open') = (charge_cents IS NULL)),
    ADD CONSTRAINT parking_sessions_ended_without_exit
        CHECK ((status = 'exit_not_recorded') = (ended_at IS NOT NULL));

-- Only parked cars: the state read and the max-stay expiry look here.
DROP INDEX carpark.parking_sessions_open;
CREATE INDEX parking_sessions_open ON carpark.parking_sessions (location_id, plate)
    WHERE status = 'open';
CREATE INDEX parking_sessions_open_since ON carpark.parking_sessions (location_id, entry_time)
    WHERE status = 'open';

-- The lab's view shows what the lab had: parked cars and paid stays.
CREATE OR REPLACE VIEW public."CarPark" AS
SELECT plate                                    AS "Plate",
       location_id                              AS "LocationID",
       entry_time                               AS "Entry_DateTime",
       exit_time                                AS "Exit_DateTime",
       (charge_cents::numeric / 100)::numeric(12, 2) AS "Parking_Charges"
FROM carpark.parking_sessions
WHERE status <> 'exit_not_recorded';

-- For review: every session ended without a recorded exit, with the events that decided it.
CREATE VIEW carpark.sessions_exit_not_recorded AS
SELECT s.session_id,
       s.location_id,
       s.plate,
       s.entry_time,
       s.entry_event_id,
       s.ended_at,
       CASE WHEN s.ended_by_event_id IS NULL
            THEN 'stayed longer than the location''s max_stay_hours'
            ELSE 'a later entry of the same plate at the same location'
       END                                      AS reason,
       s.ended_by_event_id,
       later.event_time                         AS ended_by_event_time,
       s.charge_cents,
       s.tariff,
       s.source
FROM carpark.parking_sessions s
LEFT JOIN carpark.gate_events later ON later.event_id = s.ended_by_event_id
WHERE s.status = 'exit_not_recorded';
GRANT SELECT ON carpark.sessions_exit_not_recorded TO carpark_pipeline, carpark_reader;

-- How far the ticks have got: every five-minute window from start_at up to processed_until
-- has been processed. One row; the first tick writes it.
CREATE TABLE carpark.tick_progress (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    start_at         timestamptz NOT NULL,
    processed_until  timestamptz NOT NULL CHECK (processed_until >= start_at),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON carpark.tick_progress TO carpark_pipeline;
GRANT SELECT ON carpark.tick_progress TO carpark_reader;
