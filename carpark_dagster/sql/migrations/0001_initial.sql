-- The system of record: every gate event, every session, every rejected record.
CREATE SCHEMA IF NOT EXISTS carpark;

CREATE TABLE carpark.gate_events (
    event_id     text PRIMARY KEY,
    plate        text        NOT NULL,
    location_id  text        NOT NULL,
    event_type   text        NOT NULL CHECK (event_type IN ('entry', 'exit')),
    event_time   timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE carpark.parking_sessions (
    session_id        text PRIMARY KEY,
    plate             text        NOT NULL,
    location_id       text        NOT NULL,
    entry_event_id    text        NOT NULL,
    exit_event_id     text,
    entry_time        timestamptz NOT NULL,
    exit_time         timestamptz,
    duration_seconds  bigint,
    charge_cents      bigint CHECK (charge_cents >= 0),
    tariff            text        NOT NULL,
    updated_at        timestamptz NOT NULL,
    CHECK (exit_time IS NULL OR exit_time >= entry_time),
    CHECK ((exit_time IS NULL) = (charge_cents IS NULL))
);
-- Open sessions are read every tick; keep that read proportional to what is parked.
CREATE INDEX parking_sessions_open ON carpark.parking_sessions (location_id, plate)
    WHERE exit_time IS NULL;
-- Incremental readers page through changes by (updated_at, session_id).
CREATE INDEX parking_sessions_changes ON carpark.parking_sessions (updated_at, session_id);

CREATE TABLE carpark.quarantine (
    record_key  text        NOT NULL,
    reason      text        NOT NULL,
    source      text        NOT NULL,
    record      jsonb       NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (record_key, reason)
);

CREATE TABLE carpark.sync_watermarks (
    consumer    text PRIMARY KEY,
    updated_at  timestamptz NOT NULL,
    session_id  text        NOT NULL
);

CREATE TABLE carpark.location_earnings (
    computed_at               timestamptz NOT NULL,
    rank                      integer     NOT NULL,
    location_id               text        NOT NULL,
    sessions                  bigint      NOT NULL,
    total_charge_cents        bigint      NOT NULL,
    average_charge_cents      numeric(14, 2) NOT NULL,
    PRIMARY KEY (computed_at, location_id)
);

-- The lab's table, as a view: its SQL and pgAdmin users keep working.
CREATE VIEW public."CarPark" AS
SELECT plate                                    AS "Plate",
       location_id                              AS "LocationID",
       entry_time                               AS "Entry_DateTime",
       exit_time                                AS "Exit_DateTime",
       (charge_cents::numeric / 100)::numeric(12, 2) AS "Parking_Charges"
FROM carpark.parking_sessions;
