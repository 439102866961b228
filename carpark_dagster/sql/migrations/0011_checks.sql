-- What the checks job reads (docs/checks.md), indexed so that each check costs what is new or
-- wrong, not what the history holds.

-- Sessions with a negative duration or charge: none, normally, so the index is empty and the
-- check reads nothing. The predicate is the one of SELECT_NEGATIVE_SESSIONS.
CREATE INDEX IF NOT EXISTS parking_sessions_negative
    ON carpark.parking_sessions (location_id)
    WHERE duration_seconds < 0 OR charge_cents < 0;

-- Quarantine growth over the last hour (and, for whoever prunes the quarantine, its oldest).
CREATE INDEX IF NOT EXISTS quarantine_by_first_seen ON carpark.quarantine (first_seen);
