"""The time model against the real PostgreSQL: a range processed in one run, a catch-up after an
outage and ticks one window at a time all store the same rows; lost gate reads; one writer at
a time. Windows go through the code the assets run (`carpark_dagster.lib.ticks`)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from carpark_dagster.domain.config import parse_config
from carpark_dagster.domain.events import EVENT_COLUMNS
from carpark_dagster.domain.windows import Window, floor_window, parse_moment, windows_between
from carpark_dagster.lib.ticks import (
    TickPlan,
    TickWindows,
    WindowEvents,
    close_windows,
    store_batches,
)
from carpark_dagster.resources import (
    CarparkConfigResource,
    GateSimulatorResource,
    PostgresResource,
)
from carpark_dagster.resources.postgres import LockTimeout
from carpark_dagster_tests.integration.conftest import databases, migrated
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

# Short lateness and max stay, so that a few hours cross both many times over; both tariffs.
CONFIG = parse_config(
    {
        "defaults": {
            "capacity": 60,
            "sessions_per_day": 300,
            "lateness_hours": 2,
            "max_stay_hours": 3,
        },
        "tariffs": {
            "default": {"billing": "per_block", "block_minutes": 30, "rate_cents": 60},
            "hdb_eps": {"preset": "hdb_eps", "lost_exit_charge_cents": 1500},
        },
        "locations": {
            "Park0": {},
            "Park1": {},
            "HDB1": {"tariff": "hdb_eps", "plate_rule": "sg"},
        },
    }
)
START = parse_moment("2026-11-27T05:00+08:00", "start")
HOURS = 10
# A quarter of the sessions with a lost, late (up to 6 h, past the 2 h lateness) or repeated
# gate read.
SIMULATOR = GateSimulatorResource(seed=21, dirty_share=0.25)

SNAPSHOT = {
    "sessions": """
        SELECT session_id, plate, location_id, entry_event_id, exit_event_id, entry_time,
               exit_time, status, ended_at, ended_by_event_id, duration_seconds, charge_cents,
               tariff, source
        FROM carpark.parking_sessions ORDER BY session_id""",
    "events": "SELECT event_id, plate, location_id, event_type, event_time "
    "FROM carpark.gate_events ORDER BY event_id",
    "pending": "SELECT event_id, event_type, event_time FROM carpark.pending_events "
    "ORDER BY event_id",
    "quarantine": "SELECT record_key, reason, record FROM carpark.quarantine "
    "ORDER BY record_key, reason",
    "totals": "SELECT * FROM carpark.location_totals ORDER BY location_id",
    "exit_log": "SELECT location_id, plate, exit_time, session_id FROM carpark.session_exits "
    "ORDER BY session_id, exit_time",
    "progress": "SELECT start_at, processed_until FROM carpark.tick_progress",
}


@cache
def simulated() -> WindowEvents:
    windows = windows_between(START, START + timedelta(hours=HOURS))
    return [(w, SIMULATOR.events_between(CONFIG, w.start, w.end, since=START)) for w in windows]


def tick(postgres: PostgresResource, config, events: WindowEvents, replay: bool = False) -> None:
    """One run over `events`' windows: batches made in one go, then stored in order (as the
    assets do), from where the ticks have got to."""
    plan = TickPlan([w for w, _ in events], postgres.tick_progress(), replay=replay)
    run = close_windows(postgres, config, TickWindows(plan, events))
    store_batches(postgres, run)


def process(postgres: PostgresResource, runs: list[WindowEvents], replays=()) -> None:
    postgres.start_ticks(START)
    for windows in runs:
        tick(postgres, CONFIG, windows)
    for windows in replays:
        tick(postgres, CONFIG, windows, replay=True)


def skip_to(postgres: PostgresResource, window: Window) -> None:
    """As if the ticks before `window` had run and found nothing to do."""
    with postgres.connect() as conn:
        conn.execute("UPDATE carpark.tick_progress SET processed_until = %s", (window.start,))


def snapshot(postgres: PostgresResource) -> dict[str, list[tuple]]:
    with postgres.connect() as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in SNAPSHOT.items()}


@pytest.fixture(scope="module")
def one_tick_per_window() -> Iterator[dict[str, list[tuple]]]:
    """The reference: a tick at the end of every window, each reading PostgreSQL."""
    with databases() as new_database:
        postgres = migrated(new_database())
        process(postgres, [[w] for w in simulated()])
        yield snapshot(postgres)


def test_the_reference_sees_every_kind_of_gate_trouble(one_tick_per_window):
    rows = one_tick_per_window
    statuses = {row[7] for row in rows["sessions"]}
    assert statuses == {"open", "closed", "exit_not_recorded"}
    reasons = {reason.split(" (")[0] for _, reason, _ in rows["quarantine"]}
    assert {"arrived later than the lateness window", "exit without a matching entry"} <= reasons
    ended = [row for row in rows["sessions"] if row[7] == "exit_not_recorded"]
    by_expiry = [row for row in ended if row[9] is None]
    assert by_expiry, "some lost exits end by the max stay"
    for row in by_expiry:
        assert row[8] - row[5] == timedelta(hours=3)  # ended at entry + max stay
    # Lost-exit charges follow each tariff's policy: none by default, $15 under hdb_eps.
    assert {(row[2].startswith("HDB"), row[11]) for row in ended} <= {(False, 0), (True, 1500)}
    assert rows["progress"] == [(START, START + timedelta(hours=HOURS))]


def test_a_range_in_one_run_gives_the_rows_of_one_tick_per_window(
    new_database, one_tick_per_window
):
    postgres = migrated(new_database())
    process(postgres, [simulated()])
    assert snapshot(postgres) == one_tick_per_window


def test_a_catch_up_after_a_six_hour_outage_gives_the_rows_of_no_outage(
    new_database, one_tick_per_window
):
    postgres = migrated(new_database())
    windows = simulated()
    before, outage, after = windows[:24], windows[24:96], windows[96:]
    process(postgres, [[w] for w in before] + [outage] + [[w] for w in after])
    assert snapshot(postgres) == one_tick_per_window


def test_an_older_range_processed_again_changes_nothing(new_database, one_tick_per_window):
    postgres = migrated(new_database())
    windows = simulated()
    process(postgres, [windows], replays=[windows[10:40], windows[:5]])
    assert snapshot(postgres) == one_tick_per_window


# ---------------------------------------------------------------------------- lost reads

PLATE = "SBS1234A"


def window_of(moment: str) -> Window:
    start = parse_moment(moment, "window")
    return Window(start, start + timedelta(minutes=5))


def gate(window: Window, *rows: tuple[str, str]) -> tuple[Window, pd.DataFrame]:
    """Events (id, kind) at Park0 for PLATE at the start of `window`."""
    frame = pd.DataFrame(
        [
            {
                "event_id": eid,
                "plate": PLATE,
                "location_id": "Park0",
                "event_type": kind,
                "event_time": window.start,
            }
            for eid, kind in rows
        ],
        columns=EVENT_COLUMNS,
    )
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return window, frame


def test_a_lost_exit_on_day_one_does_not_overcharge_the_visit_of_day_four(postgres):
    shipped = CarparkConfigResource().load()  # 72 h max stay, 24 h lateness
    postgres.start_ticks(parse_moment("2026-11-02", "start"))
    ticks = [
        gate(window_of("2026-11-02T09:00+08:00"), ("d1-in", "entry")),
        gate(window_of("2026-11-05T09:00+08:00"), ("d4-in", "entry")),
        gate(window_of("2026-11-05T10:00+08:00"), ("d4-out", "exit")),
    ]
    for window, events in ticks:  # only these windows have events; nothing expires between
        skip_to(postgres, window)
        tick(postgres, shipped, [(window, events)])

    with postgres.connect() as conn:
        rows = conn.execute(
            "SELECT session_id, status, charge_cents, ended_by_event_id "
            "FROM carpark.parking_sessions ORDER BY entry_time"
        ).fetchall()
        review = conn.execute(
            "SELECT session_id, reason, ended_by_event_id, ended_by_event_time, charge_cents "
            "FROM carpark.sessions_exit_not_recorded"
        ).fetchall()
        lab = conn.execute('SELECT "Plate", "Parking_Charges" FROM public."CarPark"').fetchall()
        totals = conn.execute("SELECT sessions, total_charge_cents FROM carpark.location_totals")
        totals = totals.fetchall()
    assert rows == [
        ("ses-d1-in", "exit_not_recorded", 0, "d4-in"),
        ("ses-d4-in", "closed", 120, None),
    ]
    assert review == [
        (
            "ses-d1-in",
            "a later entry of the same plate at the same location",
            "d4-in",
            parse_moment("2026-11-05T09:00+08:00", "t"),
            0,
        )
    ]
    # The lab's view and the average charge see only the paid stay.
    assert [(p, float(c)) for p, c in lab] == [(PLATE, 1.20)]
    assert totals == [(1, 120)]


def test_an_open_session_past_its_max_stay_is_ended_by_the_tick(postgres):
    postgres.start_ticks(parse_moment("2026-11-02", "start"))
    entry = window_of("2026-11-02T09:00+08:00")
    skip_to(postgres, entry)
    tick(postgres, CONFIG, [gate(entry, ("e1", "entry"))])
    three_hours = window_of("2026-11-02T11:55+08:00")  # ends at 12:00: exactly 3 h
    skip_to(postgres, three_hours)
    tick(postgres, CONFIG, [gate(three_hours)])
    with postgres.connect() as conn:
        status = "SELECT status, ended_at FROM carpark.parking_sessions"
        assert conn.execute(status).fetchall() == [("open", None)]
    next_tick = window_of("2026-11-02T12:00+08:00")  # any other plate's events, or none
    tick(postgres, CONFIG, [gate(next_tick)])
    with postgres.connect() as conn:
        assert conn.execute(status).fetchall() == [
            ("exit_not_recorded", parse_moment("2026-11-02T12:00+08:00", "t"))
        ]
        reason = conn.execute("SELECT reason FROM carpark.sessions_exit_not_recorded")
        assert reason.fetchall() == [("stayed longer than the location's max_stay_hours",)]


# ---------------------------------------------------------------------------- one writer


def test_two_ticks_started_at_once_give_the_rows_of_two_in_sequence(new_database, search, tmp_path):
    at = "2026-11-27T08:00+08:00"
    sequential = migrated(new_database())
    for _ in range(2):
        assert run_pipeline(pipeline_resources(sequential, search, tmp_path, seed=3), at).success

    together = migrated(new_database())
    results = []

    def tick() -> None:
        resources = pipeline_resources(together, search, tmp_path / "together", seed=3)
        results.append(run_pipeline(resources, at))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [r.success for r in results] == [True, True]
    windows = sorted(
        m.metadata["windows"].value
        for r in results
        for m in r.asset_materializations_for_node("raw_car_events")
    )
    assert windows == [0, 12]  # the second waited for the first, then found nothing due
    assert snapshot(together) == snapshot(sequential)


def test_a_second_writer_waits_then_fails_naming_the_first(postgres):
    with postgres.writer_lock("carpark import-legacy"):
        impatient = PostgresResource(dsn=postgres.dsn, writer_lock_wait_s=1)
        with pytest.raises(LockTimeout) as caught, impatient.writer_lock("carpark replay"):
            pass
    message = str(caught.value)
    assert message.startswith("carpark import-legacy (pid ")
    assert "has held the writer lock for over 1s" in message
    # Released: the next writer gets in at once.
    with PostgresResource(dsn=postgres.dsn, writer_lock_wait_s=0).writer_lock("carpark replay"):
        pass


# ---------------------------------------------------------------------------- no partitions


def test_the_dagster_cli_materialises_everything_due_without_a_partition(
    postgres, search, tmp_path
):
    """`dagster asset materialize --select '*'`, as an operator types it: no partition to
    pick; the run processes every window due since CARPARK_START."""
    now = datetime.now(UTC)
    start = floor_window(now) - timedelta(minutes=30)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "CARPARK_POSTGRES_DSN": postgres.dsn,
        "CARPARK_ES_URL": search.url,
        "CARPARK_ES_ALIAS": search.alias,
        "CARPARK_ES_LEGACY_ALIAS": "none",
        "CARPARK_START": start.isoformat(),
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "--select",
            "*",
            "-m",
            "carpark_dagster.definitions",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    progress = postgres.tick_progress()
    assert progress.start_at == start
    # Every window complete when the run planned it (the clock may have moved on since).
    assert progress.processed_until >= floor_window(now)
    assert progress.processed_until - start >= timedelta(minutes=30)
