-- Failed Dagster runs, as the failure sensor saw them (docs/operations.md#run-failure-alerts),
-- and what retention needs: time indexes to delete old rows by, and how far back a replay may
-- still reach once old gate events are gone.

-- One row per failed run (the sensor may see a run twice: the row stays as first written).
-- No secret is stored: the error summary is the error's class and the first line of its
-- message with credentials removed; the link is the UI's URL without credentials.
CREATE TABLE carpark.run_failures (
    run_id          text COLLATE "C" PRIMARY KEY,
    job_name        text        NOT NULL,
    failed_steps    text[]      NOT NULL DEFAULT '{}',
    error_summary   text        NOT NULL,
    failed_at       timestamptz NOT NULL,
    run_url         text        NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    -- NULL until the sensor has decided: 'delivered', 'failed' (every attempt failed) or
    -- 'not_configured' (no CARPARK_ALERT_WEBHOOK_URL).
    alert_status    text CHECK (alert_status IN ('delivered', 'failed', 'not_configured')),
    alert_attempts  integer     NOT NULL DEFAULT 0 CHECK (alert_attempts >= 0),
    alert_detail    text
);
CREATE INDEX run_failures_by_time ON carpark.run_failures (failed_at);

-- Retention deletes the oldest rows first, in batches. BRIN indexes: a few pages for the
-- whole history, next to nothing for a tick to maintain (rows arrive roughly in time order),
-- where a B-tree on gate_events would add a random insert per event.
CREATE INDEX gate_events_by_time ON carpark.gate_events USING brin (event_time);
CREATE INDEX quarantine_by_first_seen ON carpark.quarantine USING brin (first_seen);

-- Replays re-read the gate events of the range (see docs/time-model.md#replays); once events
-- before some time have been deleted, a replay of the windows that could still see them
-- would judge differently, so it is refused. NULL: nothing deleted yet (start_at applies).
ALTER TABLE carpark.tick_progress ADD COLUMN replayable_from timestamptz;
