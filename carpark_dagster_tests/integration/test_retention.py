"""Retention against a real PostgreSQL: what is deleted and what is kept, at each table's
boundary; stale exit-log entries only; sessions never; replays limited to what is still held;
the daily job under the writer lock, with counts in its metadata; Dagster's old runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from carpark_dagster.defs.maintenance.retention import carpark_retention, delete_old_runs
from carpark_dagster.domain.ledger import StateQuery
from carpark_dagster.domain.windows import WindowError, floor_window
from carpark_dagster.lib.retention import apply_retention
from carpark_dagster.lib.ticks import plan_tick
from carpark_dagster.resources import CarparkConfigResource, PostgresResource, TickClockResource
from carpark_dagster.resources.retention import RETENTION_RULES, RetentionResource, days_kept

NOW = datetime(2026, 12, 1, 3, 17, tzinfo=UTC)
TICK = timedelta(microseconds=1)
LATENESS = timedelta(hours=24)
DEFAULTS = days_kept({})


def _execute(postgres: PostgresResource, sql: str, rows: list[tuple]) -> None:
    with psycopg.connect(postgres.dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany(sql, rows)


def _column(postgres: PostgresResource, sql: str) -> list:
    with psycopg.connect(postgres.dsn) as conn:
        return [row[0] for row in conn.execute(sql)]


def _ages(days: int, now: datetime) -> dict[str, datetime]:
    """Times around the cutoff `days` before `now`: just older (goes), exactly at it and just
    younger (stay), recent (stays)."""
    cutoff = now - timedelta(days=days)
    return {
        "older": cutoff - TICK,
        "at": cutoff,
        "younger": cutoff + TICK,
        "recent": now - timedelta(hours=1),
    }


def _seed_aged_rows(postgres: PostgresResource, now: datetime = NOW) -> None:
    events = _ages(DEFAULTS["gate_events"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.gate_events (event_id, plate, location_id, event_type, event_time)"
        " VALUES (%s, 'SBS1A', 'Park0', 'entry', %s)",
        [(f"ev-{name}", when) for name, when in events.items()],
    )
    quarantine = _ages(DEFAULTS["quarantine"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.quarantine (record_key, reason, source, record, first_seen)"
        " VALUES (%s, 'unknown location', 'simulator', '{}', %s)",
        [(f"q-{name}", when) for name, when in quarantine.items()],
    )
    landed = _ages(DEFAULTS["landed_events"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.inbox_files (digest, file_name, status, size_bytes, landed_at)"
        " VALUES (repeat('a', 64), 'gates.csv', 'landed', 1, %s)",
        [(landed["older"],)],
    )
    _execute(
        postgres,
        "INSERT INTO carpark.landed_events (file_digest, line, event_id, plate, location_id,"
        " event_type, event_time, landed_at) VALUES (repeat('a', 64), %s, %s, 'SBS1A', 'Park0',"
        " 'entry', %s, %s)",
        [(line, f"l-{name}", when, when) for line, (name, when) in enumerate(landed.items())],
    )
    earnings = _ages(DEFAULTS["location_earnings"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.location_earnings (computed_at, rank, location_id, sessions,"
        " total_charge_cents, average_charge_cents) VALUES (%s, 1, %s, 1, 60, 60)",
        [(when, f"Park-{name}") for name, when in earnings.items()],
    )
    reports = _ages(DEFAULTS["earnings_reports"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.earnings_reports (computed_at, period, location_id, period_start,"
        " period_end, sessions, total_charge_cents) VALUES (%s, 'today', %s, %s, %s, 1, 60)",
        [(when, f"Park-{name}", when, when) for name, when in reports.items()],
    )
    failures = _ages(DEFAULTS["run_failures"], now)
    _execute(
        postgres,
        "INSERT INTO carpark.run_failures (run_id, job_name, error_summary, failed_at, run_url)"
        " VALUES (%s, 'carpark_tick', 'RuntimeError: x', %s, 'http://127.0.0.1:3000/runs/x')",
        [(f"run-{name}", when) for name, when in failures.items()],
    )


def _seed_sessions_and_exit_log(
    postgres: PostgresResource, now: datetime = NOW
) -> dict[str, datetime]:
    """Sessions (one 500 days old) and their exit log: good entries, stale ones, repeats."""
    long_ago = now - timedelta(days=500)
    old = now - timedelta(days=DEFAULTS["session_exits"] + 3)
    recent = now - timedelta(days=1)
    sessions = [
        ("ses-ancient", long_ago, long_ago + timedelta(hours=1)),
        ("ses-old", old, old + timedelta(hours=2)),  # its exit moved from +1 h to +2 h
        ("ses-recent", recent, recent + timedelta(hours=1)),
    ]
    _execute(
        postgres,
        "INSERT INTO carpark.parking_sessions (session_id, plate, location_id, entry_event_id,"
        " exit_event_id, entry_time, exit_time, status, duration_seconds, charge_cents, tariff,"
        " updated_at) VALUES (%s, 'SBS1A', 'Park0', %s, %s, %s, %s, 'closed', 3600, 120,"
        " 'default', now())",
        [(sid, f"{sid}-in", f"{sid}-out", entry, exit_) for sid, entry, exit_ in sessions],
    )
    log = [
        ("ses-ancient", long_ago + timedelta(hours=1)),  # good: kept however old
        ("ses-old", old + timedelta(hours=2)),  # good
        ("ses-old", old + timedelta(hours=2)),  # the same again (a tick stored twice): goes
        ("ses-old", old + timedelta(hours=1)),  # the exit it had before: stale, goes
        ("ses-never-committed", old),  # a tick that never committed: stale, goes
        ("ses-recent", recent + timedelta(hours=1)),  # good
        ("ses-recent", recent + timedelta(minutes=30)),  # stale but recent: kept for now
    ]
    _execute(
        postgres,
        "INSERT INTO carpark.session_exits (location_id, plate, exit_time, session_id)"
        " VALUES ('Park0', 'SBS1A', %s, %s)",
        [(when, sid) for sid, when in log],
    )
    return {"long_ago": long_ago, "old": old, "recent": recent}


def test_each_table_loses_exactly_its_rows_older_than_its_retention(postgres):
    _seed_aged_rows(postgres)
    outcome = apply_retention(postgres, DEFAULTS, NOW, LATENESS, rows_per_batch=1)
    # rows_per_batch=1: one row per statement, so every table took several batches
    assert outcome.deleted == {
        "gate_events": 1,
        "landed_events": 1,
        "quarantine": 1,
        "location_earnings": 1,
        "earnings_reports": 1,
        "run_failures": 1,
        "session_exits": 0,
    }
    kept = ["at", "recent", "younger"]
    assert sorted(_column(postgres, "SELECT event_id FROM carpark.gate_events")) == [
        f"ev-{k}" for k in kept
    ]
    assert sorted(_column(postgres, "SELECT record_key FROM carpark.quarantine")) == [
        f"q-{k}" for k in kept
    ]
    assert sorted(_column(postgres, "SELECT event_id FROM carpark.landed_events")) == [
        f"l-{k}" for k in kept
    ]
    # The file itself is remembered: offered again, it is still recognised.
    assert _column(postgres, "SELECT file_name FROM carpark.inbox_files") == ["gates.csv"]
    assert sorted(_column(postgres, "SELECT location_id FROM carpark.location_earnings")) == [
        f"Park-{k}" for k in kept
    ]
    assert sorted(_column(postgres, "SELECT location_id FROM carpark.earnings_reports")) == [
        f"Park-{k}" for k in kept
    ]
    assert sorted(_column(postgres, "SELECT run_id FROM carpark.run_failures")) == [
        f"run-{k}" for k in kept
    ]
    # a second pass finds nothing more
    again = apply_retention(postgres, DEFAULTS, NOW, LATENESS, rows_per_batch=1000)
    assert set(again.deleted.values()) == {0}


def test_batches_delete_everything_expired(postgres):
    old = NOW - timedelta(days=DEFAULTS["run_failures"] + 1)
    _execute(
        postgres,
        "INSERT INTO carpark.run_failures (run_id, job_name, error_summary, failed_at, run_url)"
        " VALUES (%s, 'carpark_tick', 'x', %s, 'u')",
        [(f"run-{i}", old - timedelta(minutes=i)) for i in range(7)],
    )
    rule = next(r for r in RETENTION_RULES if r.name == "run_failures")
    assert postgres.delete_expired(rule, NOW - timedelta(days=90), batch_rows=3) == 7
    assert _column(postgres, "SELECT count(*) FROM carpark.run_failures") == [0]


def test_zero_days_keeps_a_table_forever(postgres):
    _seed_aged_rows(postgres)
    forever = {**DEFAULTS, "gate_events": 0}
    outcome = apply_retention(postgres, forever, NOW, LATENESS, rows_per_batch=100)
    assert outcome.deleted["gate_events"] == 0
    assert outcome.cutoffs["gate_events"] is None
    assert len(_column(postgres, "SELECT event_id FROM carpark.gate_events")) == 4


def test_only_stale_exit_log_entries_go_and_sessions_stay(postgres):
    times = _seed_sessions_and_exit_log(postgres)
    outcome = apply_retention(postgres, DEFAULTS, NOW, LATENESS, rows_per_batch=2)
    assert outcome.deleted["session_exits"] == 3
    log = _column(
        postgres,
        "SELECT session_id || ' ' || to_char(exit_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
        " FROM carpark.session_exits ORDER BY exit_time",
    )
    ancient, old, recent = times["long_ago"], times["old"], times["recent"]

    def entry(sid, when):
        return f"{sid} {when:%Y-%m-%d %H:%M}"

    assert log == [
        entry("ses-ancient", ancient + timedelta(hours=1)),
        entry("ses-old", old + timedelta(hours=2)),
        entry("ses-recent", recent + timedelta(minutes=30)),
        entry("ses-recent", recent + timedelta(hours=1)),
    ]
    assert sorted(_column(postgres, "SELECT session_id FROM carpark.parking_sessions")) == [
        "ses-ancient",
        "ses-old",
        "ses-recent",
    ]


def test_the_exit_log_still_finds_every_session_a_tick_reads(postgres):
    """The read a tick makes (SELECT_ENDED_OR_EXPIRED_SESSIONS, through the exit log) returns the
    same sessions before and after the stale entries are gone."""
    times = _seed_sessions_and_exit_log(postgres)
    query = StateQuery(
        locations=["Park0"],
        plates=["SBS1A"],
        pending_before=times["long_ago"],
        ended_since=times["long_ago"],
        expired_before={},
    )
    before = sorted(postgres.session_state(query).sessions["session_id"])
    apply_retention(postgres, DEFAULTS, NOW, LATENESS, rows_per_batch=100)
    after = sorted(postgres.session_state(query).sessions["session_id"])
    assert before == after == ["ses-ancient", "ses-old", "ses-recent"]


def test_replays_no_longer_reach_windows_whose_events_are_gone(postgres):
    start = floor_window(NOW - timedelta(days=500))
    postgres.start_ticks(start)
    with psycopg.connect(postgres.dsn, autocommit=True) as conn:
        conn.execute("UPDATE carpark.tick_progress SET processed_until = %s", (NOW,))
    clock = TickClockResource(start=start.isoformat(), now=NOW.isoformat())
    old_range = (start, start + timedelta(minutes=30))
    assert plan_tick(postgres, clock, replay=old_range).replay

    outcome = apply_retention(postgres, DEFAULTS, NOW, LATENESS, rows_per_batch=100)
    # the gate events' cutoff (400 days) plus the lateness, up to the next window
    expected = datetime(2025, 10, 28, 3, 20, tzinfo=UTC)
    assert outcome.replayable_from == expected
    assert postgres.tick_progress().replayable_since == expected
    with pytest.raises(WindowError, match="deleted by retention"):
        plan_tick(postgres, clock, replay=old_range)
    with pytest.raises(WindowError):
        plan_tick(postgres, clock, replay=(expected - timedelta(minutes=5), expected))
    assert plan_tick(postgres, clock, replay=(expected, expected + timedelta(minutes=5))).replay
    # a later run with longer retention never moves it back
    longer = {**DEFAULTS, "gate_events": 600, "quarantine": 600}
    apply_retention(postgres, longer, NOW, LATENESS, rows_per_batch=100)
    assert postgres.tick_progress().replayable_since == expected


def _job_resources(postgres: PostgresResource, **retention) -> dict:
    return {
        "postgres": postgres,
        "retention": RetentionResource(days={**DEFAULTS, **retention}, batch_rows=2),
        "carpark_config": CarparkConfigResource(),
    }


def test_the_daily_job_reports_counts_per_table(postgres):
    """The job reads the clock itself: rows seeded around the cutoffs of a moment before it
    runs are all past them when it does (the ones "at" and "just younger" too)."""
    seeded_at = datetime.now(UTC)
    _seed_aged_rows(postgres, seeded_at)
    _seed_sessions_and_exit_log(postgres, seeded_at)
    with dg.instance_for_test() as instance:
        result = carpark_retention.execute_in_process(
            instance=instance, resources=_job_resources(postgres)
        )
    assert result.success
    assert result.output_for_node("delete_expired_rows") == {
        "gate_events": 3,
        "landed_events": 3,
        "quarantine": 3,
        "location_earnings": 3,
        "earnings_reports": 3,
        "run_failures": 3,
        "session_exits": 3,
        "dagster_runs": 0,
    }
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["deleted_gate_events"].value == 3
    assert metadata["deleted_session_exits"].value == 3
    assert metadata["deleted_dagster_runs"].value == 0
    assert metadata["days_kept"].value == DEFAULTS
    assert _column(postgres, "SELECT count(*) FROM carpark.parking_sessions") == [3]
    assert sorted(_column(postgres, "SELECT event_id FROM carpark.gate_events")) == ["ev-recent"]


def test_the_daily_job_waits_for_the_writer_then_fails_naming_it(postgres):
    impatient = PostgresResource(dsn=postgres.dsn, writer_lock_wait_s=1)
    with postgres.writer_lock("carpark replay"), dg.instance_for_test() as instance:
        result = carpark_retention.execute_in_process(
            instance=instance, resources=_job_resources(impatient), raise_on_error=False
        )
    assert not result.success
    failure = result.get_run_failure_event().event_specific_data.error
    text = failure.to_string()
    assert "LockTimeout" in text
    assert "carpark replay" in text


def test_old_finished_runs_are_deleted_and_unfinished_ones_kept():
    @dg.op
    def ok():
        return 1

    @dg.job
    def small():
        ok()

    with dg.instance_for_test() as instance:
        done = small.execute_in_process(instance=instance).run_id
        running = instance.create_run_for_job(small, status=dg.DagsterRunStatus.STARTED).run_id
        now = datetime.now(UTC)
        assert delete_old_runs(instance, days=1, now=now) == 0  # not a day old yet
        assert delete_old_runs(instance, days=0, now=now + timedelta(days=5)) == 0  # forever
        assert delete_old_runs(instance, days=1, now=now + timedelta(days=2)) == 1
        assert instance.get_run_by_id(done) is None
        assert instance.get_run_by_id(running) is not None
