-- Where and when each session left, by plate: the tick's state read finds a plate's recently
-- closed sessions here (open ones through a partial index on parking_sessions).
--
-- Before this, parking_sessions had an index on (location_id, plate, exit_time) over the whole
-- history. Every session written paid a random insert into it, and the larger it grew the
-- more each insert cost (bench/RESULTS.md): about half of a 1M-session tick's time, and the
-- reason a tick slowed with the size of the history. This log holds the same keys, but the
-- pipeline writes it on a second connection while the tick's own transaction runs, and commits
-- it first: a session is never stored without its exit here. A log entry whose tick was rolled
-- back, or whose session has moved its exit since, is harmless: readers re-check the session.
CREATE TABLE carpark.session_exits (
    location_id  text COLLATE "C" NOT NULL,
    plate        text COLLATE "C" NOT NULL,
    exit_time    timestamptz      NOT NULL,
    session_id   text COLLATE "C" NOT NULL
);

INSERT INTO carpark.session_exits (location_id, plate, exit_time, session_id)
SELECT location_id, plate, exit_time, session_id
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
ORDER BY (exit_time AT TIME ZONE 'UTC')::date, location_id, plate, exit_time;

-- By day first (UTC), then plate: a tick's exits go into the few days it covers, a small part
-- of the index that stays in memory, however long the history behind it.
CREATE INDEX session_exits_by_day_and_plate
    ON carpark.session_exits (((exit_time AT TIME ZONE 'UTC')::date), location_id, plate);

-- Open sessions, by plate: only the cars parked now are in it.
CREATE INDEX parking_sessions_open ON carpark.parking_sessions (location_id, plate)
    WHERE exit_time IS NULL;
DROP INDEX carpark.parking_sessions_by_plate;
