"""PostgreSQL, the system of record, as a Dagster resource.

Every statement, transaction and advisory lock of the platform is here (the schema's are in
`migrations.py`). All writes of a tick happen in one transaction, serialised by an advisory
lock, so that `updated_at` grows in commit order and incremental readers never skip a row.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import dagster as dg
import pandas as pd
import pgpq
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from pgpq.encoders import LargeStringEncoderBuilder
from pgpq.schema import Jsonb
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, PrivateAttr

from carpark_dagster.domain.alerts import RunFailure
from carpark_dagster.domain.checks import NegativeSessions, StaleOpenSessions
from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.earnings import LocationTotals
from carpark_dagster.domain.ledger import StateQuery, plate_first_times
from carpark_dagster.domain.redaction import redact_secrets, secret_values
from carpark_dagster.domain.reporting import (
    EarningsReport,
    MoneyFigures,
    Period,
    bucket_bounds,
    summed_figures,
)
from carpark_dagster.domain.sessions import (
    EPOCH_WATERMARK,
    PENDING_COLUMNS,
    SESSION_COLUMNS,
    DeadLetter,
    SessionState,
    StoredSession,
    Watermark,
)
from carpark_dagster.domain.ticks import TickBatch
from carpark_dagster.resources.locks import AdvisoryLock
from carpark_dagster.resources.migrations import (
    Migration,
    applied_versions,
    apply_migrations,
    bundled_migrations,
)
from carpark_dagster.resources.retention import (
    LIMIT_REPLAYS,
    RetentionRule,
    delete_batch_statement,
)

log = logging.getLogger(__name__)

DEFAULT_DSN = "postgresql://carpark@127.0.0.1:55432/carpark"
# How long a search sync or rebuild waits for another one to finish.
SEARCH_SYNC_LOCK_WAIT_S = 30 * 60
# How long a writer (a run, an import, a rebuild, a replay) waits for the one before it.
WRITER_LOCK_WAIT_S = 10 * 60
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
UNLOCK = "SELECT pg_advisory_unlock(%s)"
# Who holds an advisory lock (a bigint key below 2**32 is objid; every role may see another
# session's application_name, pid and start).
LOCK_HOLDER = """
SELECT a.application_name, a.pid, a.backend_start
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = %s
  AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
SELECT_PROGRESS = """
SELECT start_at, processed_until, coalesce(replayable_from, start_at) FROM carpark.tick_progress
"""
COUNT_WAITING_EVENTS = "SELECT count(*) FROM carpark.pending_events"
START_PROGRESS = """
INSERT INTO carpark.tick_progress (start_at, processed_until) VALUES (%(start)s, %(start)s)
ON CONFLICT (singleton) DO NOTHING
"""
# Only from where the batch was made: a batch made from older state (a re-executed run, after
# other ticks) matches no row, and is refused.
ADVANCE_PROGRESS = """
UPDATE carpark.tick_progress
SET processed_until = coalesce(%(to)s::timestamptz, processed_until),
    updated_at = CASE WHEN %(to)s::timestamptz IS NULL THEN updated_at ELSE now() END
WHERE processed_until = %(expected)s
"""

# Arrays go in binary (%b): for tens of thousands of ids, quoting them as text costs more than
# the query.
# One primary-key lookup per id (`= ANY` of a batch's 17k ids made the planner scan every
# stored event: 0.2 s at 600k, growing with the history).
SELECT_KNOWN_EVENT_IDS = """
SELECT g.event_id
FROM unnest(%b::text[]) AS i(event_id)
CROSS JOIN LATERAL (
    SELECT e.event_id FROM carpark.gate_events e WHERE e.event_id = i.event_id OFFSET 0) AS g
"""
# The state a batch needs (reads grow with the batch, not the history; the rule is stated
# once more, for runs of several windows, in `domain/ledger.py`): events still waiting for the
# batch's plates or old enough to give up on, then the sessions of those plates that late
# events may still change — open ones, and ones ended within the lateness window — and the
# open sessions of any plate past their location's max stay.
SELECT_PENDING_EVENTS = """
SELECT p.event_id, p.plate, p.location_id, p.event_type, p.event_time
FROM carpark.pending_events p
WHERE (p.location_id, p.plate) IN (
        SELECT * FROM unnest(%(locations)b::text[], %(plates)b::text[]))
   OR p.event_time < %(pending_before)s
"""
NAT_NS = pd.NaT.value  # how pandas stores a missing time
# Open sessions come from the partial index of parking_sessions; ended ones are found in the
# exit log (exit, or end without an exit), day by day from the horizon's to the last one
# logged, from the later of the horizon and the plate's first event in the batch
# (`StateQuery.first_times`: an earlier visit of the plate cannot change), then checked
# against the session itself (the log may hold ends a session has moved
# away from, or ones of a tick that never committed). Every part looks up the batch's plates
# one by one through its index (the `OFFSET 0` keeps each lateral subquery a lookup: pulled
# up, the planner would sort every parked car and the whole exit log to merge them with the
# plates, ~0.8 s with 200k cars parked instead of ~0.1 s); its cost follows the batch.
# Two statements, each ~0.1 s of lookups at 17k plates: a tick runs them on two connections
# at once (`PostgresResource.tick_inputs`).
_SESSION_COLUMNS_OF_S = ", ".join("s." + c for c in SESSION_COLUMNS)
_BATCH_KEYS = """
keys AS (
    SELECT location_id, plate, TIMESTAMPTZ 'epoch' + since_us * interval '1 microsecond' AS since
    FROM unnest(%(locations)b::text[], %(plates)b::text[], %(since)b::bigint[])
        AS k(location_id, plate, since_us)
)"""
SELECT_OPEN_SESSIONS_OF_PLATES = f"""
WITH {_BATCH_KEYS}
SELECT {_SESSION_COLUMNS_OF_S}
FROM keys AS k
CROSS JOIN LATERAL (
    SELECT * FROM carpark.parking_sessions p
    WHERE p.status = 'open' AND p.location_id = k.location_id AND p.plate = k.plate
    OFFSET 0) AS s
"""
SELECT_ENDED_OR_EXPIRED_SESSIONS = f"""
WITH {_BATCH_KEYS}, days AS (
    SELECT ARRAY(
        SELECT generate_series(
            (%(ended_since)s::timestamptz AT TIME ZONE 'UTC')::date,
            (SELECT max((x.exit_time AT TIME ZONE 'UTC')::date) FROM carpark.session_exits x),
            interval '1 day')::date) AS days
)
SELECT {_SESSION_COLUMNS_OF_S}
FROM (
    SELECT DISTINCT e.session_id, k.since
    FROM keys AS k, days AS d
    CROSS JOIN LATERAL (
        SELECT x.session_id FROM carpark.session_exits x
        WHERE (x.exit_time AT TIME ZONE 'UTC')::date = ANY(d.days)
          AND x.location_id = k.location_id AND x.plate = k.plate
          AND x.exit_time >= greatest(%(ended_since)s, k.since)
        OFFSET 0) AS e
) AS ended
JOIN carpark.parking_sessions s USING (session_id)
WHERE coalesce(s.exit_time, s.ended_at) >= greatest(%(ended_since)s, ended.since)
UNION ALL
SELECT {_SESSION_COLUMNS_OF_S}
FROM unnest(%(expiry_locations)b::text[], %(expired_before)b::timestamptz[])
     AS x(location_id, expired_before)
CROSS JOIN LATERAL (
    SELECT * FROM carpark.parking_sessions p
    WHERE p.status = 'open' AND p.location_id = x.location_id
      AND p.entry_time < x.expired_before
    OFFSET 0) AS s
"""
# What a tick writes, as Arrow schemas named like the columns they fill. COPY sends them in
# PostgreSQL's binary format (pgpq encodes Arrow arrays directly): no time is formatted here
# or parsed by the server, which made the text formats several times slower.
TEXT, TIME, BIGINT = pa.large_string(), pa.timestamp("us", tz="UTC"), pa.int64()
EVENT_ROWS = pa.schema(
    [
        ("event_id", TEXT),
        ("plate", TEXT),
        ("location_id", TEXT),
        ("event_type", TEXT),
        ("event_time", TIME),
    ]
)
SESSION_ROWS = pa.schema(
    [
        ("session_id", TEXT),
        ("plate", TEXT),
        ("location_id", TEXT),
        ("entry_event_id", TEXT),
        ("exit_event_id", TEXT),
        ("entry_time", TIME),
        ("exit_time", TIME),
        ("status", TEXT),
        ("ended_at", TIME),
        ("ended_by_event_id", TEXT),
        ("duration_seconds", BIGINT),
        ("charge_cents", BIGINT),
        ("tariff", TEXT),
        ("source", TEXT),
        ("updated_at", TIME),
    ]
)
LANDED_ROWS = pa.schema([("file_digest", TEXT), ("line", BIGINT), *EVENT_ROWS, ("landed_at", TIME)])
INBOX_QUARANTINE_ROWS = pa.schema(
    [("record_key", TEXT), ("reason", TEXT), ("record", TEXT), ("line_number", BIGINT)]
)
EXIT_ROWS = pa.schema(
    [("location_id", TEXT), ("plate", TEXT), ("exit_time", TIME), ("session_id", TEXT)]
)

# Imported sessions also carry the charge the old system recorded: exact decimals, whatever
# their scale, appended to SESSION_ROWS only when there are any.
RECORDED_CHARGE = "recorded_charge"
QUARANTINE_ROWS = pa.schema([("record_key", TEXT), ("reason", TEXT), ("record", TEXT)])
JSONB_COLUMNS = frozenset({"record"})
# Rows sent per COPY message: the server stores one slice while the next is encoded.
COPY_SLICE_ROWS = 50_000
# Rows per chunk of a read's result (libpq 17+), decoded while the server sends the next.
READ_CHUNK_ROWS = 500

# Staging tables take the columns' types, not their constraints: the merge checks those.
CREATE_EVENT_STAGE = """
CREATE TEMP TABLE stage_events ON COMMIT DROP AS
SELECT event_id, plate, location_id, event_type, event_time FROM carpark.gate_events WITH NO DATA
"""
MERGE_EVENTS = """
INSERT INTO carpark.gate_events (event_id, plate, location_id, event_type, event_time)
SELECT event_id, plate, location_id, event_type, event_time FROM stage_events
ON CONFLICT (event_id) DO NOTHING
"""
# Whether the session has ever been closed (0016): set from its status when written, never
# cleared by a merge. The search sync skips sessions that never were (they have no document).
EVER_CLOSED = "ever_closed"
STAGED_SESSION_COLUMNS = ", ".join([*SESSION_ROWS.names, EVER_CLOSED, RECORDED_CHARGE])
CREATE_SESSION_STAGE = f"""
CREATE TEMP TABLE stage_sessions ON COMMIT DROP AS
SELECT {STAGED_SESSION_COLUMNS} FROM carpark.parking_sessions WITH NO DATA
"""
# Source and recorded charge describe where a session began: an update never changes them.
MERGE_SESSIONS = f"""
INSERT INTO carpark.parking_sessions AS s ({STAGED_SESSION_COLUMNS})
SELECT {STAGED_SESSION_COLUMNS} FROM stage_sessions
ORDER BY session_id  -- index insertions in key order touch fewer pages
ON CONFLICT (session_id) DO UPDATE SET
    exit_event_id     = EXCLUDED.exit_event_id,
    exit_time         = EXCLUDED.exit_time,
    status            = EXCLUDED.status,
    ended_at          = EXCLUDED.ended_at,
    ended_by_event_id = EXCLUDED.ended_by_event_id,
    duration_seconds  = EXCLUDED.duration_seconds,
    charge_cents      = EXCLUDED.charge_cents,
    tariff            = EXCLUDED.tariff,
    updated_at        = EXCLUDED.updated_at,
    ever_closed       = s.ever_closed OR EXCLUDED.ever_closed
WHERE (s.exit_event_id, s.exit_time, s.status, s.ended_at, s.ended_by_event_id,
       s.charge_cents, s.tariff)
      IS DISTINCT FROM (EXCLUDED.exit_event_id, EXCLUDED.exit_time, EXCLUDED.status,
                        EXCLUDED.ended_at, EXCLUDED.ended_by_event_id,
                        EXCLUDED.charge_cents, EXCLUDED.tariff)
"""
DELETE_PENDING_EVENTS = "DELETE FROM carpark.pending_events WHERE event_id = ANY(%b)"
UPSERT_LOCATION = """
INSERT INTO carpark.locations (location_id, name, tariff, tariff_spec, plate_rule, capacity)
VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (location_id) DO UPDATE SET
    name = EXCLUDED.name, tariff = EXCLUDED.tariff, tariff_spec = EXCLUDED.tariff_spec,
    plate_rule = EXCLUDED.plate_rule, capacity = EXCLUDED.capacity, updated_at = now()
WHERE (carpark.locations.name, carpark.locations.tariff, carpark.locations.tariff_spec,
       carpark.locations.plate_rule, carpark.locations.capacity)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.tariff, EXCLUDED.tariff_spec,
                        EXCLUDED.plate_rule, EXCLUDED.capacity)
"""
CREATE_QUARANTINE_STAGE = """
CREATE TEMP TABLE stage_quarantine (record_key text, reason text, record jsonb) ON COMMIT DROP
"""
MERGE_QUARANTINE = """
INSERT INTO carpark.quarantine (record_key, reason, source, record)
SELECT DISTINCT ON (record_key, reason) record_key, reason, %(source)s, record
FROM stage_quarantine
ON CONFLICT (record_key, reason) DO NOTHING
"""
# Keyset pagination: rows with equal `updated_at` are ordered by id, so none is skipped.
STORED_SESSION_FIELDS = ", ".join(StoredSession._fields)
SELECT_CHANGED_SESSIONS = f"""
SELECT {STORED_SESSION_FIELDS}
FROM carpark.parking_sessions
WHERE (updated_at, session_id) > (%(updated_at)s, %(session_id)s)
ORDER BY updated_at, session_id
LIMIT %(limit)s
"""
SELECT_WATERMARK = "SELECT updated_at, session_id FROM carpark.sync_watermarks WHERE consumer = %s"
UPSERT_WATERMARK = """
INSERT INTO carpark.sync_watermarks (consumer, updated_at, session_id) VALUES (%s, %s, %s)
ON CONFLICT (consumer) DO UPDATE SET updated_at = EXCLUDED.updated_at,
                                     session_id = EXCLUDED.session_id
"""
INSERT_LOCATION_EARNINGS = """
INSERT INTO carpark.location_earnings
    (computed_at, rank, location_id, sessions, total_charge_cents, average_charge_cents)
VALUES (%s, %s, %s, %s, %s, %s)
"""
# Maintained by triggers on parking_sessions (migration 0005): a handful of rows, whatever
# the size of the history.
# The earnings report (docs/reporting.md, "How it stays cheap"). Closed sessions whose exit
# lies in the period, up to the search sync watermark (what the index holds), less the
# search dead letters, per location and hour of day (carpark time): from the five-minute
# rollup kept by the triggers (0015), so the cost follows the period's buckets, not its
# sessions; plus the sessions of the partial buckets at either edge (none when the period's
# ends fall on five minutes, as a tick's do); less the sessions the rollup counts that the
# index does not hold (changed after the watermark — found by the keyset index — or dead
# letters). Each row: location, hour, sessions, cents, sessions with a duration, their
# seconds (negative: subtracted).
SELECT_PERIOD_FIGURES = """
SELECT location_id, extract(hour FROM exit_bucket AT TIME ZONE 'Asia/Singapore')::int,
       sessions, total_charge_cents, timed_sessions, stay_seconds
FROM carpark.exit_rollup
WHERE exit_bucket >= %(bucket_start)s AND exit_bucket < %(bucket_end)s
UNION ALL
SELECT s.location_id, extract(hour FROM s.exit_time AT TIME ZONE 'Asia/Singapore')::int,
       1, s.charge_cents, (s.duration_seconds IS NOT NULL)::int,
       coalesce(s.duration_seconds, 0)
FROM carpark.parking_sessions AS s
WHERE s.status = 'closed'
  AND ((s.exit_time >= %(start)s AND s.exit_time < %(bucket_start)s)
       OR (s.exit_time >= %(bucket_end)s AND s.exit_time < %(end)s))
  AND (s.updated_at, s.session_id) <= (%(updated_at)s, %(session_id)s)
  AND NOT EXISTS (SELECT 1 FROM carpark.search_dead_letters AS d
                  WHERE d.session_id = s.session_id)
UNION ALL
SELECT s.location_id, extract(hour FROM s.exit_time AT TIME ZONE 'Asia/Singapore')::int,
       -1, -s.charge_cents, -(s.duration_seconds IS NOT NULL)::int,
       -coalesce(s.duration_seconds, 0)
FROM (
    SELECT session_id FROM carpark.parking_sessions
    WHERE (updated_at, session_id) > (%(updated_at)s, %(session_id)s)
    UNION
    SELECT session_id FROM carpark.search_dead_letters
) AS missing
JOIN carpark.parking_sessions AS s USING (session_id)
WHERE s.status = 'closed'
  AND s.exit_time >= %(bucket_start)s AND s.exit_time < %(bucket_end)s
"""
# Cars parked now against each location's capacity (kept by the triggers, 0015).
SELECT_OCCUPANCY = """
SELECT l.location_id, coalesce(t.parked, 0), l.capacity
FROM carpark.locations AS l
LEFT JOIN carpark.location_totals AS t USING (location_id)
ORDER BY l.location_id
"""
INSERT_EARNINGS_REPORT = """
INSERT INTO carpark.earnings_reports (
    computed_at, period, location_id, period_start, period_end, top_rank, sessions,
    total_charge_cents, average_charge_cents, average_stay_seconds, median_stay_seconds,
    occupied, capacity, hourly_charge_cents)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (computed_at, period, location_id) DO NOTHING
"""
SELECT_CLOSED_TOTALS_BY_LOCATION = """
SELECT location_id, sessions, total_charge_cents
FROM carpark.location_totals
WHERE sessions <> 0 OR total_charge_cents <> 0
ORDER BY location_id
"""
# The checks job (docs/checks.md). Sessions with a negative duration or charge: a partial
# index (migration 0011) holds exactly those, none normally, so this costs nothing however long
# the history; the condition must stay the index's for the planner to use it.
SELECT_NEGATIVE_SESSIONS = """
SELECT location_id,
       count(*) FILTER (WHERE duration_seconds < 0) AS negative_durations,
       count(*) FILTER (WHERE charge_cents < 0) AS negative_charges
FROM carpark.parking_sessions
WHERE duration_seconds < 0 OR charge_cents < 0
GROUP BY location_id ORDER BY location_id
"""
# Per location, the open sessions that entered before its cutoff (the index of open sessions
# by entry time, location by location).
SELECT_OPEN_SESSIONS_ENTERED_BEFORE = """
SELECT x.location_id, count(*), min(s.entry_time)
FROM unnest(%(locations)b::text[], %(entered_before)b::timestamptz[])
     AS x(location_id, entered_before)
JOIN LATERAL (
    SELECT p.entry_time FROM carpark.parking_sessions p
    WHERE p.status = 'open' AND p.location_id = x.location_id
      AND p.entry_time < x.entered_before) AS s ON true
GROUP BY x.location_id ORDER BY x.location_id
"""
# Records quarantined within the last `period` of the database's clock (the clock that set
# first_seen), per source.
COUNT_QUARANTINED_SINCE = """
SELECT source, count(*) FROM carpark.quarantine
WHERE first_seen > now() - %(period)s::interval
GROUP BY source ORDER BY source
"""
# The rebuild reads everything from one snapshot: the rows, the watermark they add up to, and
# the totals they are checked against, even while ticks keep writing.
BEGIN_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
SELECT_LAST_CHANGE = """
SELECT updated_at, session_id FROM carpark.parking_sessions
ORDER BY updated_at DESC, session_id DESC
LIMIT 1
"""
SELECT_CLOSED_SESSIONS_PAGE = f"""
SELECT {STORED_SESSION_FIELDS}
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
  AND (updated_at, session_id) > (%(updated_at)s, %(session_id)s)
ORDER BY updated_at, session_id
LIMIT %(limit)s
"""
# Failed runs (the failure sensor): written once, then the alert's outcome once.
INSERT_RUN_FAILURE = """
INSERT INTO carpark.run_failures
    (run_id, job_name, failed_steps, error_summary, failed_at, run_url)
VALUES (%(run_id)s, %(job_name)s, %(failed_steps)s, %(error_summary)s, %(failed_at)s,
        %(run_url)s)
ON CONFLICT (run_id) DO NOTHING
"""
SELECT_ALERT_STATUS = "SELECT alert_status FROM carpark.run_failures WHERE run_id = %s"
RECORD_ALERT = """
UPDATE carpark.run_failures
SET alert_status = %(status)s, alert_attempts = %(attempts)s, alert_detail = %(detail)s
WHERE run_id = %(run_id)s AND alert_status IS NULL
"""
SELECT_CLOSED_TOTALS = """
SELECT location_id, count(*) AS sessions, sum(charge_cents) AS total_charge_cents
FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL
GROUP BY location_id ORDER BY location_id
"""

# The inbox (migration 0008). A file's events land in one transaction with the time they
# arrived at: never before the end of what the ticks have processed, so a tick always sees
# what landed in its windows (landing holds the writer lock: no tick runs meanwhile).
SELECT_INBOX_FILE = "SELECT file_name, status, reason FROM carpark.inbox_files WHERE digest = %s"
SELECT_LANDING_TIME = """
SELECT greatest(%(now)s::timestamptz,
                coalesce((SELECT processed_until FROM carpark.tick_progress), %(now)s))
"""
INSERT_INBOX_FILE = """
INSERT INTO carpark.inbox_files (digest, file_name, status, reason, size_bytes, landed_at)
VALUES (%(digest)s, %(name)s, %(status)s, %(reason)s, %(size)s, %(landed_at)s)
ON CONFLICT (digest) DO NOTHING
"""
FINISH_INBOX_FILE = """
UPDATE carpark.inbox_files SET events = %(events)s, quarantined = %(quarantined)s
WHERE digest = %(digest)s
"""
CREATE_INBOX_QUARANTINE_STAGE = """
CREATE TEMP TABLE stage_inbox_quarantine
    (record_key text, reason text, record jsonb, line_number bigint) ON COMMIT DROP
"""
MERGE_INBOX_QUARANTINE = """
INSERT INTO carpark.quarantine (record_key, reason, source, record, source_file, line_number)
SELECT record_key, reason, 'inbox', record, %(file)s, line_number FROM stage_inbox_quarantine
ON CONFLICT (record_key, reason) DO NOTHING
"""
# Events of a file that the pipeline has seen before (stored, or landed from another file),
# or that repeat within the file: the tick keeps the first delivery of each id.
COUNT_LANDED_DUPLICATES = """
SELECT count(*) FROM (
    SELECT event_id, row_number() OVER (PARTITION BY event_id ORDER BY line) AS delivery
    FROM carpark.landed_events WHERE file_digest = %(digest)s
) f
WHERE f.delivery > 1
   OR EXISTS (SELECT FROM carpark.gate_events g WHERE g.event_id = f.event_id)
   OR EXISTS (SELECT FROM carpark.landed_events o
              WHERE o.event_id = f.event_id AND o.file_digest <> %(digest)s)
"""
# In arrival order: the files in the order they landed, each file in its line order.
SELECT_LANDED_EVENTS = """
SELECT event_id, plate, location_id, event_type, event_time, landed_at
FROM carpark.landed_events
WHERE landed_at >= %(start)s AND landed_at < %(end)s
ORDER BY landed_at, file_digest, line
"""
# Search dead letters (migration 0009): sessions the engine refused, one row each; a refusal
# again updates the row and counts the attempt.
UPSERT_DEAD_LETTER = """
INSERT INTO carpark.search_dead_letters AS d (session_id, status, reason)
VALUES (%s, %s, %s)
ON CONFLICT (session_id) DO UPDATE
    SET status = EXCLUDED.status, reason = EXCLUDED.reason, last_seen = now(),
        attempts = d.attempts + 1
"""
DELETE_DEAD_LETTERS = "DELETE FROM carpark.search_dead_letters WHERE session_id = ANY(%s)"
DELETE_DEAD_LETTERS_EXCEPT = (
    "DELETE FROM carpark.search_dead_letters WHERE NOT (session_id = ANY(%s))"
)
SELECT_DEAD_LETTER_IDS = "SELECT session_id FROM carpark.search_dead_letters ORDER BY session_id"
COUNT_DEAD_LETTERS = "SELECT count(*) FROM carpark.search_dead_letters"
SELECT_DEAD_LETTERS = """
SELECT session_id, status, reason, first_seen, last_seen, attempts
FROM carpark.search_dead_letters
ORDER BY first_seen, session_id
LIMIT %s
"""
# What the index should lack: the closed sessions among the dead letters, per location.
SELECT_DEAD_LETTERED_TOTALS = """
SELECT s.location_id, count(*), sum(s.charge_cents)
FROM carpark.search_dead_letters AS d
JOIN carpark.parking_sessions AS s USING (session_id)
WHERE s.exit_time IS NOT NULL
GROUP BY s.location_id ORDER BY s.location_id
"""
SELECT_SESSIONS_BY_ID = f"""
SELECT {STORED_SESSION_FIELDS}
FROM carpark.parking_sessions
WHERE session_id = ANY(%(ids)s)
ORDER BY updated_at, session_id
"""
BEGIN_CONSISTENT_READ = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be reached or refused us; the message never holds the password."""


class LockTimeout(RuntimeError):
    """Another process kept an advisory lock for longer than we were willing to wait."""


class StaleTick(RuntimeError):
    """A batch was made from a state that has moved on since (other ticks were stored): storing
    it could undo their work, so it is refused and nothing of it is stored."""


@dataclass(frozen=True)
class ProgressStep:
    """What storing a batch does to the tick progress: it must still be at `expected` (where
    the batch was made from), and moves to `advance_to` (None: stays, as for a replay)."""

    expected: datetime
    advance_to: datetime | None = None


@dataclass(frozen=True)
class TickProgress:
    """Every five-minute window from `start_at` up to `processed_until` has been processed."""

    start_at: datetime
    processed_until: datetime
    # Replays may reach back to here: start_at, or later once retention has deleted old
    # gate events (docs/operations.md#retention).
    replayable_from: datetime | None = None

    @property
    def replayable_since(self) -> datetime:
        return self.replayable_from or self.start_at


@dataclass(frozen=True)
class MigrationStatus:
    migration: Migration
    applied: bool


@dataclass(frozen=True)
class SearchExpectation:
    """What the search index should hold, as of one moment: PostgreSQL's closed sessions per
    location, those of them that are dead letters (refused by the engine, so not in the
    index), and the dead letters themselves (`dead_letter_count` of them; the first few)."""

    closed: list[LocationTotals]
    dead_lettered: list[LocationTotals]
    dead_letter_count: int
    dead_letters: list[DeadLetter]


@dataclass(frozen=True)
class ClosedSessionsSnapshot:
    """The closed sessions as of one moment: the last change they add up to, their totals per
    location, and `read_page(after, limit)` for the rows themselves in keyset order."""

    watermark: Watermark
    totals: list[LocationTotals]
    read_page: Callable[[Watermark, int], list[StoredSession]]

    @property
    def sessions(self) -> int:
        return sum(t.sessions for t in self.totals)


@dataclass(frozen=True)
class InboxFile:
    """A file the inbox has seen (by its content): its first name, and what became of it."""

    file_name: str
    status: str  # "landed" or "refused"
    reason: str | None


@dataclass(frozen=True)
class LandedFile:
    events: int
    duplicates: int
    quarantined: int
    landed_at: datetime


@dataclass(frozen=True)
class TickCounts:
    events_received: int
    events_stored: int
    sessions_written: int
    anomalies_quarantined: int


class _Beside:
    """Reads run one after another on a second connection, in a worker thread, while the
    caller reads on its own: `fetch` returns the future rows. The connection is opened by the
    first read and closed on leaving the block."""

    def __init__(self, postgres: PostgresResource, name: str):
        self._postgres = postgres
        self._name = name
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="state-read")
        self._conn: psycopg.Connection | None = None

    def fetch(self, statement: str, params: Sequence | dict) -> Future[list[tuple]]:
        return self._pool.submit(self._rows, statement, params)

    def _rows(self, statement: str, params: Sequence | dict) -> list[tuple]:
        if self._conn is None:
            self._conn = self._postgres._open(self._name)
        return self._conn.execute(statement, params).fetchall()

    def __enter__(self) -> _Beside:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True)
        if self._conn is not None:
            self._conn.close()


class PostgresResource(dg.ConfigurableResource):
    """The carpark database (from `CARPARK_POSTGRES_DSN`).

    Inside a Dagster run the resource keeps one connection for the whole step (and a second
    one for the exit log, once a tick writes it), and applies pending migrations once when it
    is set up; elsewhere each `connect()` opens its own. Connections are in autocommit mode:
    work that must be atomic runs in `conn.transaction()`.
    """

    dsn: str = Field(default=DEFAULT_DSN, description="libpq connection string or URL.")
    statement_timeout_ms: int = Field(default=300_000, description="Per-statement limit.")
    connect_timeout_s: int = Field(default=10, description="Time to wait for a connection.")
    writer_lock_wait_s: float = Field(
        default=WRITER_LOCK_WAIT_S,
        description="How long a run waits for another writer of the database to finish.",
    )
    writer: bool = Field(
        default=True,
        description="Take the writer lock and migrate when set up for a run. False for the "
        "failure sensor, which only records failures and must never wait for a tick.",
    )

    _run_connection: psycopg.Connection | None = PrivateAttr(default=None)
    _exit_log_connection: psycopg.Connection | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run is one writer: it takes the writer lock before anything reads the state, and
        holds it on its connection until it ends (a killed run's lock dies with it)."""
        if not self.writer:
            return
        run = context.run
        holder = f"carpark run {run.run_id[:8]} ({run.job_name})" if run else "carpark run"
        self._run_connection = self._open(holder)
        _hold_lock(
            self._run_connection,
            AdvisoryLock.WRITER,
            self.writer_lock_wait_s,
            on_wait=lambda: context.log.info("waiting for %s", _holder(self._run_connection)),
        )
        applied = self.migrate()
        if applied:
            context.log.info("applied migrations %s", ", ".join(applied))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        for conn in (self._run_connection, self._exit_log_connection):
            if conn is not None:
                conn.close()
        self._run_connection = self._exit_log_connection = None

    # ---------------------------------------------------------------- connections

    def describe(self) -> str:
        """Where we connect, without credentials: host:port/dbname."""
        try:
            parts = conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError:
            return "<unparseable DSN>"
        return (
            f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"
        )

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        shared = self._run_connection
        if shared is not None and not shared.closed and not shared.broken:
            yield shared
            return
        conn = self._open()
        try:
            yield conn
        finally:
            conn.close()

    def _open(self, application_name: str = "carpark_dagster") -> psycopg.Connection:
        try:
            return psycopg.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=self.connect_timeout_s,
                # UTC sessions: times come back with the fixed `timezone.utc`, which psycopg
                # builds faster than a ZoneInfo (~30% of reading a page of sessions).
                # No JIT: every statement here is short and planned afresh each tick; the
                # server compiled the state read's expressions for ~0.6 s of its ~0.8 s.
                options=f"-c statement_timeout={self.statement_timeout_ms} -c TimeZone=UTC "
                "-c jit=off",
                application_name=application_name[:63],
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(line.strip() for line in str(exc).splitlines()) or repr(exc)
            reason = redact_secrets(reason.removeprefix("connection failed: "), self._secrets())
            raise PostgresUnavailable(
                f"cannot connect to PostgreSQL at {self.describe()} ({reason}); "
                "is it running (make up), and is CARPARK_POSTGRES_DSN right?"
            ) from None
        except psycopg.Error:
            # libpq's parse errors quote the offending part of the string, password included
            # (`invalid percent-encoded token: "…"`): name the variable, never its value.
            raise PostgresUnavailable(
                "CARPARK_POSTGRES_DSN is not a valid libpq connection string or URL (a '%' in "
                "a URL's password must be written %25); its value is not shown"
            ) from None

    def _secrets(self) -> list[str]:
        return secret_values({"CARPARK_POSTGRES_DSN": self.dsn})

    # ---------------------------------------------------------------- schema

    def migrate(self, allow_drop: bool = False) -> list[str]:
        """Apply the pending migrations; return their versions (see `migrations.py`)."""
        with self.connect() as conn:
            return apply_migrations(conn, bundled_migrations(), allow_drop=allow_drop)

    def migration_status(self) -> list[MigrationStatus]:
        with self.connect() as conn:
            done = applied_versions(conn)
        return [MigrationStatus(m, m.version in done) for m in bundled_migrations()]

    # ---------------------------------------------------------------- locks

    @contextmanager
    def writer_lock(self, holder: str, wait_s: float | None = None) -> Iterator[None]:
        """Be the database's one writer for the block (outside a Dagster run, which takes the
        lock itself): ticks, replays, imports and search rebuilds take turns. Waits up to
        `wait_s` (default `writer_lock_wait_s`) for the current writer, then raises
        LockTimeout naming it. `holder` is how this process is named to the others."""
        conn = self._open(holder)
        try:
            _hold_lock(
                conn,
                AdvisoryLock.WRITER,
                self.writer_lock_wait_s if wait_s is None else wait_s,
                on_wait=lambda: log.info("waiting for %s", _holder(conn)),
            )
            yield
        finally:
            conn.close()  # releases the lock

    @contextmanager
    def search_sync_lock(
        self,
        wait_s: float = SEARCH_SYNC_LOCK_WAIT_S,
        on_wait: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Hold the search-sync advisory lock for the block (syncs and rebuilds take turns).
        `on_wait` is called when we start waiting and every 30 s after."""
        lock = AdvisoryLock.SEARCH_SYNC
        with self.connect() as conn:
            _hold_lock(conn, lock, wait_s, on_wait)
            try:
                yield
            finally:
                # A broken connection has taken the lock with it already.
                if not conn.closed and not conn.broken:
                    conn.execute(UNLOCK, (lock,))

    # ---------------------------------------------------------------- progress

    def tick_progress(self) -> TickProgress | None:
        """How far the ticks have got; None before the first tick."""
        with self.connect() as conn:
            row = conn.execute(SELECT_PROGRESS).fetchone()
        return TickProgress(*row) if row else None

    def start_ticks(self, start_at: datetime) -> TickProgress:
        """The progress, starting it at `start_at` if no tick has run yet."""
        with self.connect() as conn:
            conn.execute(START_PROGRESS, {"start": start_at})
            return TickProgress(*conn.execute(SELECT_PROGRESS).fetchone())

    # ---------------------------------------------------------------- reads

    def tick_inputs(self, query: StateQuery, event_ids: list[str]) -> tuple[SessionState, set[str]]:
        """`session_state(query)` and which of `event_ids` are stored, read on two connections
        at once (the server runs both; ~0.1 s of a tick at 17k events): on a connection of
        its own, in a worker thread, the stored ids and then the open sessions of the batch's
        plates; on this one, the waiting events and the sessions that ended. The caller holds
        the writer lock, so every read sees the same stored state."""
        with _Beside(self, "carpark_dagster state read") as beside:
            known = beside.fetch(SELECT_KNOWN_EVENT_IDS, (event_ids,)) if event_ids else None
            state = self.session_state(query, beside)
            return state, {row[0] for row in known.result()} if known else set()

    def session_state(self, query: StateQuery, beside: _Beside | None = None) -> SessionState:
        """What earlier ticks left that a batch may change (see `StateQuery`); the open
        sessions read on `beside`'s connection meanwhile, if given."""
        params = {
            "locations": query.locations,
            "plates": query.plates,
            "pending_before": query.pending_before,
            "ended_since": query.ended_since,
            "expiry_locations": list(query.expired_before),
            "expired_before": list(query.expired_before.values()),
        }
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(SELECT_PENDING_EVENTS, params)
            pending = pd.DataFrame(cur.fetchall(), columns=PENDING_COLUMNS)
            # The plates of the batch and of the waiting events, each from its first time
            # (NULL: from `ended_since`; `greatest` passes over NULLs).
            since = plate_first_times(query, pending)
            params["locations"] = since.index.get_level_values("location_id").tolist()
            params["plates"] = since.index.get_level_values("plate").tolist()
            # As microseconds since the epoch (floored: never later than the first event).
            params["since"] = [
                None if ns == NAT_NS else ns // 1000 for ns in since.array.asi8.tolist()
            ]
            parked = beside.fetch(SELECT_OPEN_SESSIONS_OF_PLATES, params) if beside else None
            ended = cur.execute(SELECT_ENDED_OR_EXPIRED_SESSIONS, params).fetchall()
            if parked is None:
                rows = cur.execute(SELECT_OPEN_SESSIONS_OF_PLATES, params).fetchall() + ended
            else:
                rows = parked.result() + ended
        # A parked car past its max stay may also be one of the batch's plates.
        sessions = pd.DataFrame(rows, columns=SESSION_COLUMNS).drop_duplicates("session_id")
        for column in ("entry_time", "exit_time", "ended_at"):
            sessions[column] = pd.to_datetime(sessions[column], utc=True)
        pending["event_time"] = pd.to_datetime(pending["event_time"], utc=True)
        return SessionState(sessions=sessions.reset_index(drop=True), pending=pending)

    def changed_sessions(self, after: Watermark, limit: int) -> list[StoredSession]:
        """Sessions (open or closed) changed after the keyset `(updated_at, session_id)`, in
        keyset order, at most `limit`. A closed session can become open again when a late
        exit moves its exit to another stay."""
        with self.connect() as conn:
            return read_stored_sessions(
                conn,
                SELECT_CHANGED_SESSIONS,
                {"updated_at": after[0], "session_id": after[1], "limit": limit},
            )

    def waiting_events(self) -> int:
        """Events waiting to be paired (exits whose entry has not come), all plates."""
        with self.connect() as conn:
            return conn.execute(COUNT_WAITING_EVENTS).fetchone()[0]

    def watermark(self, consumer: str) -> Watermark:
        with self.connect() as conn:
            row = conn.execute(SELECT_WATERMARK, (consumer,)).fetchone()
        return (row[0], row[1]) if row else EPOCH_WATERMARK

    def closed_totals_by_location(self) -> list[LocationTotals]:
        """Closed sessions and their charges per location, as committed now."""
        with self.connect() as conn:
            return _location_totals(conn.execute(SELECT_CLOSED_TOTALS_BY_LOCATION))

    def sessions_by_id(self, session_ids: Sequence[str]) -> list[StoredSession]:
        """The current rows of these sessions (those that exist), in keyset order."""
        with self.connect() as conn:
            return read_stored_sessions(conn, SELECT_SESSIONS_BY_ID, {"ids": list(session_ids)})

    def dead_letter_ids(self) -> list[str]:
        """Every session the search engine refused and that has not been indexed since."""
        with self.connect() as conn:
            return [row[0] for row in conn.execute(SELECT_DEAD_LETTER_IDS)]

    def dead_letters(self, limit: int = 50) -> list[DeadLetter]:
        """The oldest `limit` dead letters, with when and how often they were refused."""
        with self.connect() as conn:
            return [DeadLetter(*row) for row in conn.execute(SELECT_DEAD_LETTERS, (limit,))]

    def search_expectation(self, dead_letters_shown: int = 50) -> SearchExpectation:
        """What the index should hold, every figure from one snapshot (a tick committing
        meanwhile cannot make the closed totals and the dead letters disagree)."""
        with self.connect() as conn, conn.transaction():
            conn.execute(BEGIN_CONSISTENT_READ)
            return SearchExpectation(
                closed=_location_totals(conn.execute(SELECT_CLOSED_TOTALS_BY_LOCATION)),
                dead_lettered=_location_totals(conn.execute(SELECT_DEAD_LETTERED_TOTALS)),
                dead_letter_count=conn.execute(COUNT_DEAD_LETTERS).fetchone()[0],
                dead_letters=[
                    DeadLetter(*row)
                    for row in conn.execute(SELECT_DEAD_LETTERS, (dead_letters_shown,))
                ],
            )

    def negative_sessions(self) -> list[NegativeSessions]:
        """Per location, the stored sessions with a negative duration or charge."""
        with self.connect() as conn:
            rows = conn.execute(SELECT_NEGATIVE_SESSIONS).fetchall()
        return [NegativeSessions(loc, int(d), int(c)) for loc, d, c in rows]

    def open_sessions_entered_before(self, cutoffs: dict[str, datetime]) -> list[StaleOpenSessions]:
        """Per location of `cutoffs`, the sessions still open that entered before its cutoff."""
        params = {"locations": list(cutoffs), "entered_before": list(cutoffs.values())}
        with self.connect() as conn:
            rows = conn.execute(SELECT_OPEN_SESSIONS_ENTERED_BEFORE, params).fetchall()
        return [StaleOpenSessions(loc, int(n), oldest) for loc, n, oldest in rows]

    def quarantined_since(self, period: timedelta) -> dict[str, int]:
        """Records quarantined within the last `period`, per source."""
        with self.connect() as conn:
            rows = conn.execute(COUNT_QUARANTINED_SINCE, {"period": period}).fetchall()
        return {source: int(n) for source, n in rows}

    @contextmanager
    def closed_sessions_snapshot(self) -> Iterator[ClosedSessionsSnapshot]:
        """Every closed session as of one moment, however long the caller takes to read them
        (a read-only repeatable-read transaction for the block)."""
        with self.connect() as conn, conn.transaction():
            conn.execute(BEGIN_SNAPSHOT)
            last = conn.execute(SELECT_LAST_CHANGE).fetchone()
            totals = _location_totals(conn.execute(SELECT_CLOSED_TOTALS))

            def read_page(after: Watermark, limit: int) -> list[StoredSession]:
                return read_stored_sessions(
                    conn,
                    SELECT_CLOSED_SESSIONS_PAGE,
                    {"updated_at": after[0], "session_id": after[1], "limit": limit},
                )

            yield ClosedSessionsSnapshot(
                watermark=(last[0], last[1]) if last else EPOCH_WATERMARK,
                totals=totals,
                read_page=read_page,
            )

    # ---------------------------------------------------------------- writes

    def record_tick(
        self, tick: TickBatch, source: str, progress: ProgressStep | None = None
    ) -> TickCounts:
        """Store a tick — events, sessions, waiting events, anomalies — all of it or none.

        Rows the tick has not seen stored before (its new events, sessions that did not come
        from the stored state) go straight into their tables by COPY; the sessions it changed
        go through a staging table and one merge. Should any "new" row be stored already (a
        re-run of an old tick, an import loaded twice), that COPY is undone and its rows are
        merged too: the outcome never depends on the guess, only the speed does.

        The exits of its closed sessions go to the exit log meanwhile, on a second connection
        (the server's second core), and are committed before the tick is. With `progress`,
        the tick progress is checked and moved in the same transaction (see `ProgressStep`).
        """
        with (
            self.connect() as conn,
            conn.transaction(),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="exit-log") as beside,
        ):
            exits_logged = beside.submit(self._log_exits, tick.sessions)
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (AdvisoryLock.TICK,))
            # Taken after the lock, so timestamps grow in commit order.
            (updated_at,) = conn.execute("SELECT clock_timestamp()").fetchone()
            events_stored = _insert_or_merge(
                conn,
                ("carpark.gate_events", "event_id"),
                _arrow(tick.events, EVENT_ROWS),
                stage=(CREATE_EVENT_STAGE, "stage_events", MERGE_EVENTS),
            )
            new, changed = _split_known(
                session_rows(tick.sessions, source, updated_at), tick.known_session_ids
            )
            sessions_written = _insert_or_merge(
                conn,
                ("carpark.parking_sessions", "session_id"),
                new,
                changed=changed,
                stage=(CREATE_SESSION_STAGE, "stage_sessions", MERGE_SESSIONS),
            )
            if tick.released_pending_ids:
                conn.execute(DELETE_PENDING_EVENTS, (tick.released_pending_ids,))
            copy_rows(conn, "carpark.pending_events", _arrow(tick.pending, EVENT_ROWS))
            quarantined = 0
            if len(tick.anomalies):
                conn.execute(CREATE_QUARANTINE_STAGE)
                copy_rows(conn, "stage_quarantine", _quarantine_rows(tick.anomalies))
                quarantined = conn.execute(MERGE_QUARANTINE, {"source": source}).rowcount
            if progress is not None:
                moved = conn.execute(
                    ADVANCE_PROGRESS, {"to": progress.advance_to, "expected": progress.expected}
                ).rowcount
                if moved != 1:
                    raise StaleTick(
                        f"this batch was made from the state as of {progress.expected.isoformat()}"
                        ", but other ticks have been stored since; nothing of it was stored (run "
                        "a new tick instead of re-executing an old one)"
                    )
            exits_logged.result()  # its failure undoes the tick
        return TickCounts(
            events_received=len(tick.events),
            events_stored=events_stored,
            sessions_written=sessions_written,
            anomalies_quarantined=quarantined,
        )

    def _log_exits(self, sessions: pd.DataFrame) -> None:
        """Append the exits of the closed ones of `sessions` to the exit log and commit them,
        on a connection of their own."""
        exits = exit_rows(sessions)
        if exits.num_rows == 0:
            return
        in_run = self._run_connection is not None
        conn = self._exit_log_connection if in_run else None
        if conn is None or conn.closed or conn.broken:
            conn = self._open()
            if in_run:
                self._exit_log_connection = conn
        try:
            with conn.transaction():
                copy_rows(conn, "carpark.session_exits", exits)
        finally:
            if not in_run:
                conn.close()

    def record_locations(self, config: CarparkConfig) -> None:
        """Keep `carpark.locations` equal to the configuration in force."""
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            for loc in config.locations.values():
                cur.execute(
                    UPSERT_LOCATION,
                    (
                        loc.location_id,
                        loc.name,
                        loc.tariff.name,
                        json.dumps(asdict(loc.tariff), default=str),
                        loc.plate_rule,
                        loc.capacity,
                    ),
                )

    # ---------------------------------------------------------------- inbox

    def inbox_file(self, digest: str) -> InboxFile | None:
        """What became of the file with this content, if it came before."""
        with self.connect() as conn:
            row = conn.execute(SELECT_INBOX_FILE, (digest,)).fetchone()
        return InboxFile(*row) if row else None

    def land_file(
        self, digest: str, name: str, size: int, chunks: Iterable, now: datetime
    ) -> LandedFile:
        """Land a file's `chunks` (`domain.inbox.FileChunk`s) in one transaction: its events
        for the tick of the window holding their landing time, its bad records in quarantine
        with their line numbers. Whatever `chunks` raises (a file refused half-way) undoes it
        all. The caller holds the writer lock."""
        events = quarantined = 0
        with self.connect() as conn, conn.transaction():
            (landed_at,) = conn.execute(SELECT_LANDING_TIME, {"now": now}).fetchone()
            conn.execute(
                INSERT_INBOX_FILE,
                {
                    "digest": digest,
                    "name": name,
                    "status": "landed",
                    "reason": None,
                    "size": size,
                    "landed_at": landed_at,
                },
            )
            conn.execute(CREATE_INBOX_QUARANTINE_STAGE)
            for chunk in chunks:
                landed = chunk.events.assign(file_digest=digest, landed_at=landed_at)
                copy_rows(conn, "carpark.landed_events", _arrow(landed, LANDED_ROWS))
                copy_rows(
                    conn, "stage_inbox_quarantine", _inbox_quarantine_rows(digest, chunk.rejected)
                )
                events += len(chunk.events)
            quarantined = conn.execute(MERGE_INBOX_QUARANTINE, {"file": name}).rowcount
            (duplicates,) = conn.execute(COUNT_LANDED_DUPLICATES, {"digest": digest}).fetchone()
            conn.execute(
                FINISH_INBOX_FILE,
                {"digest": digest, "events": events, "quarantined": quarantined},
            )
        return LandedFile(events, duplicates, quarantined, landed_at)

    def refuse_file(self, digest: str, name: str, size: int, reason: str, now: datetime) -> None:
        """Remember a refused file (nothing of it is loaded), so the same content is known."""
        with self.connect() as conn:
            conn.execute(
                INSERT_INBOX_FILE,
                {
                    "digest": digest,
                    "name": name,
                    "status": "refused",
                    "reason": reason,
                    "size": size,
                    "landed_at": now,
                },
            )

    def landed_events(self, start: datetime, end: datetime) -> pd.DataFrame:
        """Events landed in [start, end), in arrival order (EVENT_COLUMNS and `landed_at`)."""
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(SELECT_LANDED_EVENTS, {"start": start, "end": end})
            frame = pd.DataFrame(cur.fetchall(), columns=[*EVENT_ROWS.names, "landed_at"])
        for column in ("event_time", "landed_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def set_watermark(self, consumer: str, mark: Watermark) -> None:
        with self.connect() as conn:
            conn.execute(UPSERT_WATERMARK, (consumer, mark[0], mark[1]))

    def settle_search_page(
        self,
        refused: Sequence[DeadLetter] = (),
        indexed: Collection[str] = (),
        consumer: str | None = None,
        mark: Watermark | None = None,
        keep_only_refused: bool = False,
    ) -> None:
        """In one transaction: record the sessions the engine `refused` as dead letters (again:
        one more attempt), drop those it has now `indexed` (or deleted) from the dead letters,
        and move `consumer`'s watermark to `mark`. A crash leaves all of it or none: never a
        watermark past a refused session that is not recorded. With `keep_only_refused` (a
        rebuild, which sent every closed session), every other dead letter is dropped."""
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            if keep_only_refused:
                cur.execute(DELETE_DEAD_LETTERS_EXCEPT, ([d.session_id for d in refused],))
            elif indexed:
                cur.execute(DELETE_DEAD_LETTERS, (list(indexed),))
            if refused:
                cur.executemany(
                    UPSERT_DEAD_LETTER, [(d.session_id, d.status, d.reason) for d in refused]
                )
            if consumer is not None and mark is not None:
                cur.execute(UPSERT_WATERMARK, (consumer, mark[0], mark[1]))

    def record_run_failure(self, failure: RunFailure) -> str | None:
        """Record a failed run (once: a second time changes nothing); return the outcome of
        its alert so far (None: not yet decided). The failure sensor does not migrate when it
        is set up (it is no writer): a database that has not had this table yet gets it now."""
        try:
            return self._record_run_failure(failure)
        except psycopg.errors.UndefinedTable:
            self.migrate()
            return self._record_run_failure(failure)

    def _record_run_failure(self, failure: RunFailure) -> str | None:
        with self.connect() as conn:
            conn.execute(
                INSERT_RUN_FAILURE,
                {
                    "run_id": failure.run_id,
                    "job_name": failure.job_name,
                    "failed_steps": list(failure.failed_steps),
                    "error_summary": failure.error_summary,
                    "failed_at": failure.failed_at,
                    "run_url": failure.run_url,
                },
            )
            return conn.execute(SELECT_ALERT_STATUS, (failure.run_id,)).fetchone()[0]

    def record_alert(self, run_id: str, status: str, attempts: int, detail: str) -> None:
        """The outcome of a failure's alert, unless one is recorded already."""
        with self.connect() as conn:
            conn.execute(
                RECORD_ALERT,
                {"run_id": run_id, "status": status, "attempts": attempts, "detail": detail},
            )

    def delete_expired(self, rule: RetentionRule, cutoff: datetime, batch_rows: int) -> int:
        """Delete the rule's rows older than `cutoff`, `batch_rows` per statement (each its
        own transaction), until none is left; return how many."""
        statement = delete_batch_statement(rule)
        deleted = 0
        with self.connect() as conn:
            while True:
                batch = conn.execute(statement, {"cutoff": cutoff, "limit": batch_rows}).rowcount
                deleted += batch
                if batch < batch_rows:
                    return deleted

    def limit_replays(self, replayable_from: datetime) -> None:
        """Replays may start no earlier than `replayable_from` (only ever moves forward)."""
        with self.connect() as conn:
            conn.execute(LIMIT_REPLAYS, {"from": replayable_from})

    def period_figures(
        self, period: Period, mark: Watermark
    ) -> tuple[MoneyFigures, dict[str, tuple[int, int]]]:
        """Closed sessions with exits in `period` up to the watermark `mark`, less the dead
        letters: money per location and by hour, and (sessions, stay seconds) per location."""
        bucket_start, bucket_end = bucket_bounds(period)
        params = {
            "start": period.start,
            "end": period.end,
            "bucket_start": bucket_start,
            "bucket_end": bucket_end,
            "updated_at": mark[0],
            "session_id": mark[1],
        }
        with self.connect() as conn:  # one statement: one snapshot
            rows = conn.execute(SELECT_PERIOD_FIGURES, params).fetchall()
        return summed_figures(rows)

    def occupancy(self) -> dict[str, tuple[int, int]]:
        """Per configured location: (cars parked now, capacity)."""
        with self.connect() as conn:
            return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(SELECT_OCCUPANCY)}

    def record_earnings_report(self, report: EarningsReport) -> int:
        """Every figure of the report with its time (idempotent per computed_at); the rows."""
        rows = []
        for p in report.periods:
            for f in [*p.locations, p.totals]:
                rows.append(
                    (
                        report.computed_at,
                        p.period.name,
                        f.location_id,
                        p.period.start,
                        p.period.end,
                        f.rank,
                        f.sessions,
                        f.total_charge_cents,
                        f.average_charge_cents,
                        f.average_stay_seconds,
                        f.median_stay_seconds,
                        f.occupied,
                        f.capacity,
                        list(p.hourly_cents) if f is p.totals else None,
                    )
                )
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(INSERT_EARNINGS_REPORT, rows)
        return len(rows)

    def record_location_earnings(self, computed_at: datetime, ranking: pd.DataFrame) -> None:
        with self.connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                INSERT_LOCATION_EARNINGS,
                [
                    (
                        computed_at,
                        int(r.rank),
                        r.location_id,
                        int(r.sessions),
                        int(r.total_charge_cents),
                        r.average_charge_cents,
                    )
                    for r in ranking.itertuples(index=False)
                ],
            )


def read_stored_sessions(conn: psycopg.Connection, query: str, params: dict) -> list[StoredSession]:
    """Run a query selecting `STORED_SESSION_FIELDS` and return its rows as `StoredSession`s.

    Binary results (no text parsing of three timestamps per row) straight into named tuples:
    a page of 10,000 rows in about half the time of psycopg's `dict_row`. With libpq 17+ the
    rows come in chunks, so this process turns one chunk into tuples while the server sends
    the next (about a fifth off a 10,000-row page); older libpq gets the page in one piece."""
    with conn.cursor(binary=True, row_factory=_stored_session_row) as cur:
        if psycopg.capabilities.has_stream_chunked():
            return list(cur.stream(query, params, size=READ_CHUNK_ROWS))
        cur.execute(query, params)
        return cur.fetchall()


def _hold_lock(
    conn: psycopg.Connection,
    lock: AdvisoryLock,
    wait_s: float,
    on_wait: Callable[[], None] | None = None,
) -> None:
    """Take the session-level advisory `lock` on `conn`, waiting up to `wait_s`.

    A session lock dies with the connection if the process is killed. We poll with
    `pg_try_advisory_lock` instead of blocking in `pg_advisory_lock`, whose wait would count
    against the statement timeout and could not say why we wait: `on_wait` is called when we
    start waiting and every 30 s after."""
    deadline = time.monotonic() + wait_s
    next_note = 0.0
    while not conn.execute(TRY_LOCK, (lock,)).fetchone()[0]:
        now = time.monotonic()
        if now >= deadline:
            raise LockTimeout(
                f"{_holder(conn, lock)} has held the {lock.name.lower().replace('_', ' ')} "
                f"lock for over {wait_s:.0f}s; {LOCK_PURPOSE[lock]}"
            )
        if now >= next_note and on_wait is not None:
            on_wait()
            next_note = now + 30
        time.sleep(0.5)


LOCK_PURPOSE = {
    AdvisoryLock.WRITER: "ticks, replays, imports and search rebuilds of one database take "
    "turns; try again when it is done",
    AdvisoryLock.SEARCH_SYNC: "search syncs and rebuilds take turns",
    AdvisoryLock.TICK: "ticks commit one at a time",
    AdvisoryLock.MIGRATIONS: "migrations are applied one at a time",
}


def _holder(conn: psycopg.Connection, lock: AdvisoryLock = AdvisoryLock.WRITER) -> str:
    """Who holds `lock`, as its connection names itself."""
    row = conn.execute(LOCK_HOLDER, (int(lock),)).fetchone()
    if row is None:
        return "another process"
    name, pid, since = row
    return f"{name or 'another process'} (pid {pid}, connected {since:%Y-%m-%d %H:%M:%S %Z})"


def _location_totals(rows: Iterable[Sequence]) -> list[LocationTotals]:
    # count() and the sum of a bigint come back as int and Decimal: both exact.
    return [LocationTotals(loc, int(sessions), int(cents)) for loc, sessions, cents in rows]


def _stored_session_row(cursor: psycopg.Cursor) -> Callable[[Sequence], StoredSession]:
    return StoredSession._make


def _insert_or_merge(
    conn: psycopg.Connection,
    target: tuple[str, str],
    new: pa.Table,
    stage: tuple[str, str, str],
    changed: pa.Table | None = None,
) -> int:
    """Write rows believed `new` to `target` (table, key column) by COPY, in key order, under
    a savepoint, and `changed` rows through the staging table and merge of `stage` (create
    statement, name, merge statement). If any "new" row is there already, the COPY is rolled
    back and its rows merged as well. Returns the rows written (inserted, or updated with a
    difference)."""
    table, key = target
    merge = changed if changed is not None else new.schema.empty_table()
    written = 0
    if new.num_rows:
        try:
            with conn.transaction():
                copy_rows(conn, table, _in_key_order(new, key))
            written = new.num_rows
        except psycopg.errors.UniqueViolation:
            log.info("%s: some of %s new rows were stored already; merging", table, new.num_rows)
            merge = pa.concat_tables([new, merge])
    if merge.num_rows:
        create, name, merge_statement = stage
        conn.execute(create)
        copy_rows(conn, name, merge)
        written += conn.execute(merge_statement).rowcount
    return written


def _split_known(sessions: pa.Table, known_ids: frozenset[str]) -> tuple[pa.Table, pa.Table]:
    """Sessions not in `known_ids` (new), and those in it (changed)."""
    known = pc.is_in(sessions["session_id"], value_set=pa.array(list(known_ids), TEXT))
    if not pc.any(known).as_py():  # filtering copies every column: skip it when it can
        return sessions, sessions.schema.empty_table()
    return sessions.filter(pc.invert(known)), sessions.filter(known)


def _in_key_order(rows: pa.Table, key: str) -> pa.Table:
    """`rows` sorted by `key` (byte-wise, as the ids' COLLATE "C"): a primary key's index
    takes rows in its own order several times faster than in arrival order."""
    keys = rows[key]
    if len(keys) < 2 or pc.all(pc.less_equal(keys[:-1], keys[1:])).as_py():
        return rows
    return rows.take(pc.sort_indices(keys))


def _arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The columns of `frame` that `schema` names, as Arrow arrays of exactly its types. Times
    keep microseconds, PostgreSQL's precision (finer digits are cut, never refused)."""
    return pa.Table.from_arrays(
        [
            pa.array(frame[field.name], from_pandas=True).cast(
                field.type, safe=not pa.types.is_timestamp(field.type)
            )
            for field in schema
        ],
        schema=schema,
    )


def session_rows(sessions: pd.DataFrame, source: str, updated_at: datetime) -> pa.Table:
    rows = _arrow(sessions.assign(source=source, updated_at=updated_at), SESSION_ROWS)
    rows = rows.append_column(EVER_CLOSED, pc.equal(rows["status"], "closed"))
    if RECORDED_CHARGE in sessions and sessions[RECORDED_CHARGE].notna().any():
        rows = rows.append_column(
            RECORDED_CHARGE, pa.array(sessions[RECORDED_CHARGE], from_pandas=True)
        )
    return rows


def exit_rows(sessions: pd.DataFrame) -> pa.Table:
    """The exit log's rows for the sessions of `sessions` that ended (at their exit, or when
    the platform ended them without one), in the order of its index (UTC day, location,
    plate): in that order a large tick's entries go into it several times faster."""
    ended_at = pd.to_datetime(sessions["ended_at"], utc=True)
    ends = sessions[["location_id", "plate", "session_id"]].assign(
        exit_time=pd.to_datetime(sessions["exit_time"], utc=True).fillna(ended_at)
    )
    closed = _arrow(ends[ends["exit_time"].notna()], EXIT_ROWS)
    if closed.num_rows < 2:
        return closed
    day = pc.floor_temporal(closed["exit_time"], unit="day")
    order = pa.table({"day": day, "location_id": closed["location_id"], "plate": closed["plate"]})
    return closed.take(
        pc.sort_indices(order, sort_keys=[(c, "ascending") for c in order.column_names])
    )


def copy_rows(conn: psycopg.Connection, table: str, rows: pa.Table) -> None:
    """COPY `rows` into the columns of `table` named like its fields, in PostgreSQL's binary
    format, one slice of rows at a time."""
    if rows.num_rows == 0:
        return
    encoder = pgpq.ArrowToPostgresBinaryEncoder.new_with_encoders(
        rows.schema,
        {
            field.name: (
                LargeStringEncoderBuilder.new_with_output(field, Jsonb())
                if field.name in JSONB_COLUMNS
                else pgpq.ArrowToPostgresBinaryEncoder.infer_encoder(field)
            )
            for field in rows.schema
        },
    )
    statement = f"COPY {table} ({', '.join(rows.column_names)}) FROM STDIN (FORMAT binary)"
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.write(encoder.write_header())
        for batch in rows.to_batches(max_chunksize=COPY_SLICE_ROWS):
            copy.write(encoder.write_batch(batch))
        copy.write(encoder.finish())


def _quarantine_rows(anomalies: pd.DataFrame) -> pa.Table:
    return pa.Table.from_arrays(
        [
            pa.array(anomalies["event_id"], TEXT, from_pandas=True),
            pa.array(anomalies["reason"], TEXT, from_pandas=True),
            pa.array([json.dumps(r, default=str) for r in anomalies["record"]], TEXT),
        ],
        schema=QUARANTINE_ROWS,
    )


def _inbox_quarantine_rows(digest: str, rejected: pd.DataFrame) -> pa.Table:
    """A file's bad records: keyed by the file's content and the line, so landing the same
    file again changes nothing."""
    lines = [int(line) for line in rejected["line"]]
    return pa.Table.from_arrays(
        [
            pa.array([f"inbox:{digest[:16]}:{line}" for line in lines], TEXT),
            pa.array(rejected["reason"], TEXT, from_pandas=True),
            pa.array([json.dumps(r, default=str) for r in rejected["record"]], TEXT),
            pa.array(lines, BIGINT),
        ],
        schema=INBOX_QUARANTINE_ROWS,
    )
