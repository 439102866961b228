-- Gate event files from the inbox (or `carpark ingest`): each file once, by its content's
-- sha256; its events land here with the pipeline time they arrived at, and the tick of the
-- window holding `landed_at` takes them (docs/time-model.md, "Landed events").
CREATE TABLE carpark.inbox_files (
    digest       text        PRIMARY KEY CHECK (digest ~ '^[0-9a-f]{64}$'),
    file_name    text        NOT NULL,
    status       text        NOT NULL CHECK (status IN ('landed', 'refused')),
    reason       text,
    size_bytes   bigint      NOT NULL CHECK (size_bytes >= 0),
    events       bigint      NOT NULL DEFAULT 0 CHECK (events >= 0),
    quarantined  bigint      NOT NULL DEFAULT 0 CHECK (quarantined >= 0),
    landed_at    timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'refused') = (reason IS NOT NULL))
);

CREATE TABLE carpark.landed_events (
    file_digest  text        NOT NULL REFERENCES carpark.inbox_files (digest) ON DELETE CASCADE,
    line         bigint      NOT NULL,
    event_id     text        NOT NULL,
    plate        text        NOT NULL,
    location_id  text        NOT NULL,
    event_type   text        NOT NULL CHECK (event_type IN ('entry', 'exit')),
    event_time   timestamptz NOT NULL,
    landed_at    timestamptz NOT NULL,
    PRIMARY KEY (file_digest, line)
);
-- A tick reads the events landed in its windows.
CREATE INDEX landed_events_landed_at ON carpark.landed_events (landed_at);
-- Landing counts the events seen before.
CREATE INDEX landed_events_event_id ON carpark.landed_events (event_id);

-- Records refused from a file keep where they came from.
ALTER TABLE carpark.quarantine
    ADD COLUMN source_file text,
    ADD COLUMN line_number bigint;
