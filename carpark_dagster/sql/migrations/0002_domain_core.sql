-- Domain core: events waiting to be paired, legacy charges kept beside ours, the locations.

-- Events that cannot be paired yet (an exit whose entry has not arrived, an entry while the
-- plate is parked): events come late and out of order. They wait here for the lateness
-- window, then go to quarantine.
CREATE TABLE carpark.pending_events (
    event_id     text PRIMARY KEY,
    plate        text        NOT NULL,
    location_id  text        NOT NULL,
    event_type   text        NOT NULL CHECK (event_type IN ('entry', 'exit')),
    event_time   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_events_by_plate ON carpark.pending_events (location_id, plate);
CREATE INDEX pending_events_by_time ON carpark.pending_events (event_time);

-- Late events may still change a plate's recent sessions: each tick reads them by plate.
CREATE INDEX parking_sessions_by_plate ON carpark.parking_sessions (location_id, plate, exit_time);

-- Where a session came from, and for imported ones the charge the old system recorded (in
-- dollars, exactly as written), flagged when it differs from ours.
ALTER TABLE carpark.parking_sessions
    ADD COLUMN source text NOT NULL DEFAULT 'gates',
    ADD COLUMN recorded_charge numeric,
    ADD COLUMN charge_corrected boolean GENERATED ALWAYS AS (
        recorded_charge IS NOT NULL AND charge_cents IS NOT NULL
        AND recorded_charge * 100 <> charge_cents
    ) STORED;

-- The configuration in force, as the pipeline last applied it (from CARPARK_CONFIG).
CREATE TABLE carpark.locations (
    location_id  text PRIMARY KEY,
    name         text        NOT NULL,
    tariff       text        NOT NULL,
    tariff_spec  jsonb       NOT NULL,
    plate_rule   text        NOT NULL,
    capacity     integer     NOT NULL CHECK (capacity >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
