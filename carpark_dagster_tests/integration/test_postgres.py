"""PostgreSQL as the system of record, against the real server."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import psycopg
import psycopg.sql
import pytest

from carpark_dagster.domain.ledger import StateQuery
from carpark_dagster.domain.sessions import (
    CLOSED,
    EPOCH_WATERMARK,
    OPEN,
    PRICED_COLUMNS,
    price_sessions,
)
from carpark_dagster.domain.tariff import DEFAULT_TARIFF
from carpark_dagster.domain.ticks import TickBatch
from carpark_dagster.resources import PostgresResource
from carpark_dagster.resources import postgres as postgres_module
from carpark_dagster.resources.migrations import (
    DestructiveMigration,
    Migration,
    apply_migrations,
    bundled_migrations,
)
from carpark_dagster.resources.postgres import SESSION_ROWS, PostgresUnavailable

pytestmark = pytest.mark.services
T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
FAKE_PASSWORD = "placeholder-pw-0451"  # must never appear in a message
MINUTE = timedelta(minutes=1)
EVENT_COLUMNS = ["event_id", "plate", "location_id", "event_type", "event_time"]


def tick_of(sessions: list[tuple], events: list[tuple] = ()) -> TickBatch:
    """A tick from (session id, entry minute, exit minute or None) triples."""
    frame = pd.DataFrame(
        [
            {
                "session_id": sid,
                "plate": f"P-{sid}",
                "location_id": "Park0",
                "entry_event_id": f"{sid}-in",
                "exit_event_id": None if exit_ is None else f"{sid}-out",
                "entry_time": T0 + timedelta(minutes=entry),
                "exit_time": None if exit_ is None else T0 + timedelta(minutes=exit_),
                "status": OPEN if exit_ is None else CLOSED,
                "ended_at": None,
                "ended_by_event_id": None,
            }
            for sid, entry, exit_ in sessions
        ]
    )
    for c in ("entry_time", "exit_time", "ended_at"):
        frame[c] = pd.to_datetime(frame[c], utc=True)
    event_frame = pd.DataFrame(list(events), columns=EVENT_COLUMNS)
    event_frame["event_time"] = pd.to_datetime(event_frame["event_time"], utc=True)
    tick = TickBatch.of_sessions(price_sessions(frame, DEFAULT_TARIFF))
    return replace(tick, events=event_frame)


def rows(postgres, sql, *params):
    with postgres.connect() as conn:
        return conn.execute(sql, params).fetchall()


# --------------------------------------------------------------------------- migrations


def test_migrations_apply_once(postgres):
    with postgres.connect() as conn:
        assert apply_migrations(conn, bundled_migrations()) == []
    versions = rows(postgres, "SELECT version FROM public.carpark_schema_migrations ORDER BY 1")
    assert [v for (v,) in versions] == [m.version for m in bundled_migrations()]


def test_the_exit_log_starts_with_the_exits_stored_before_it(postgres_dsn):
    """A database from before migration 0006: its closed sessions' exits are logged."""
    before_log = [m for m in bundled_migrations() if m.version < "0006"]
    older = PostgresResource(dsn=postgres_dsn)
    with older.connect() as conn:
        apply_migrations(conn, before_log)
        for sid, exit_ in (("closed", T0 + timedelta(minutes=40)), ("open", None)):
            conn.execute(
                "INSERT INTO carpark.parking_sessions (session_id, plate, location_id,"
                " entry_event_id, entry_time, exit_time, charge_cents, tariff, updated_at)"
                " VALUES (%s, %s, 'Park0', %s, %s, %s, %s, 'default', now())",
                (sid, f"P-{sid}", f"{sid}-in", T0, exit_, None if exit_ is None else 120),
            )
    older.migrate()
    assert rows(older, "SELECT session_id, exit_time FROM carpark.session_exits") == [
        ("closed", T0 + timedelta(minutes=40))
    ]
    assert state_of(older, ["P-closed", "P-open"], horizon_minute=0) == [
        ("closed", 40),
        ("open", None),
    ]


def test_a_migration_that_destroys_data_needs_an_explicit_flag(postgres):
    drop = Migration("9999_drop_quarantine", "DROP TABLE carpark.quarantine;")
    harmless = Migration("9998_comment", "-- DROP TABLE is only mentioned here\\nSELECT 1;")
    assert drop.destroys_data and not harmless.destroys_data
    with postgres.connect() as conn:
        with pytest.raises(DestructiveMigration, match="--allow-drop"):
            apply_migrations(conn, [*bundled_migrations(), harmless, drop])
        # Nothing of the batch was applied, not even the harmless one.
        assert rows(postgres, "SELECT to_regclass('carpark.quarantine') IS NOT NULL") == [(True,)]
        assert apply_migrations(conn, [harmless, drop], allow_drop=True) == [
            "9998_comment",
            "9999_drop_quarantine",
        ]
    assert rows(postgres, "SELECT to_regclass('carpark.quarantine') IS NULL") == [(True,)]


def test_the_read_only_role_can_read_but_not_write(postgres, postgres_dsn):
    analyst = f"analyst_{uuid.uuid4().hex[:8]}"
    password = uuid.uuid4().hex  # the cluster authenticates every login (scram-sha-256)
    with postgres.connect() as conn:
        conn.execute(
            psycopg.sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE carpark_reader").format(
                psycopg.sql.Identifier(analyst), psycopg.sql.Literal(password)
            )
        )
    try:
        postgres.record_tick(tick_of([("s1", 0, 40)]), source="test")
        as_reader = psycopg.conninfo.make_conninfo(postgres_dsn, user=analyst, password=password)
        with psycopg.connect(as_reader, autocommit=True) as conn:
            assert conn.execute('SELECT count(*) FROM public."CarPark"').fetchone() == (1,)
            assert conn.execute("SELECT count(*) FROM carpark.quarantine").fetchone() == (0,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM carpark.parking_sessions")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("UPDATE carpark.sync_watermarks SET session_id = 'x'")
    finally:
        with postgres.connect() as conn:
            conn.execute(f"DROP ROLE {analyst}")


# --------------------------------------------------------------------------- loading


def test_reloading_a_tick_changes_nothing(postgres):
    tick = tick_of(
        [("s1", 0, 40), ("s2", 5, None)],
        events=[("s1-in", "P-s1", "Park0", "entry", T0), ("s2-in", "P-s2", "Park0", "entry", T0)],
    )
    first = postgres.record_tick(tick, source="test")
    before = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    again = postgres.record_tick(tick, source="test")
    assert (first.sessions_written, first.events_stored) == (2, 2)
    assert (again.sessions_written, again.events_stored) == (0, 0)
    assert rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id") == before


def test_a_late_correction_updates_the_row_and_its_updated_at(postgres):
    postgres.record_tick(tick_of([("s1", 0, None)]), source="test")
    [(opened_at,)] = rows(postgres, "SELECT updated_at FROM carpark.parking_sessions")
    postgres.record_tick(tick_of([("s1", 0, 95)]), source="test")
    [(exit_time, charge, updated_at)] = rows(
        postgres, "SELECT exit_time, charge_cents, updated_at FROM carpark.parking_sessions"
    )
    assert exit_time == T0 + timedelta(minutes=95)
    assert charge == 240
    assert updated_at > opened_at


@pytest.mark.parametrize(
    ("stored_first", "copied_into"),
    [
        (False, "carpark.parking_sessions"),  # new sessions: straight into the table
        (True, "stage_sessions"),  # changed sessions: staging, then the merge
    ],
)
def test_a_tick_killed_between_copy_and_commit_leaves_nothing(
    postgres, postgres_dsn, tmp_path, stored_first, copied_into
):
    if stored_first:
        postgres.record_tick(tick_of([("s1", 0, None), ("s2", 0, None)]), source="before")
    before = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    marker = tmp_path / "copied"
    script = textwrap.dedent(
        f"""
        import time
        from dataclasses import replace
        from pathlib import Path
        import carpark_dagster.resources.postgres as pg
        from carpark_dagster_tests.integration.test_postgres import tick_of

        real_copy = pg.copy_rows
        def copy_then_wait(conn, table, rows):
            real_copy(conn, table, rows)
            if table == {copied_into!r}:
                Path({str(marker)!r}).write_text("copied")
                time.sleep(60)

        pg.copy_rows = copy_then_wait
        resource = pg.PostgresResource(dsn={postgres_dsn!r})
        tick = tick_of([("s1", 0, 40), ("s2", 0, 50)])
        if {stored_first!r}:
            tick = replace(tick, known_session_ids=frozenset({{"s1", "s2"}}))
        resource.record_tick(tick, source="crash")
        """
    )
    kill_once_marked(script, marker)
    assert rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id") == before
    # The server noticed the dead client; the next tick is not blocked by its lock.
    counts = postgres.record_tick(tick_of([("s1", 0, 40)]), source="after-crash")
    assert counts.sessions_written == 1


def test_a_tick_killed_after_its_exit_log_committed_leaves_only_harmless_entries(
    postgres, postgres_dsn, tmp_path
):
    """The exit log commits before the tick does: killed in between, the log holds exits of
    sessions that were never stored, and the state read must not take them for real."""
    postgres.record_tick(tick_of([("s1", 0, None)]), source="before")
    before = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    marker = tmp_path / "logged"
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        import carpark_dagster.resources.postgres as pg
        from carpark_dagster_tests.integration.test_postgres import tick_of

        real_log = pg.PostgresResource._log_exits
        def log_then_wait(self, sessions):
            real_log(self, sessions)
            Path({str(marker)!r}).write_text("logged")
            time.sleep(60)

        pg.PostgresResource._log_exits = log_then_wait
        resource = pg.PostgresResource(dsn={postgres_dsn!r})
        resource.record_tick(tick_of([("s1", 0, 40), ("s2", 0, 50)]), source="crash")
        """
    )
    kill_once_marked(script, marker)
    assert rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id") == before
    assert rows(postgres, "SELECT session_id FROM carpark.session_exits ORDER BY 1") == [
        ("s1",),
        ("s2",),
    ]
    assert state_of(postgres, ["P-s1", "P-s2"], horizon_minute=0) == [("s1", None)]

    postgres.record_tick(tick_of([("s1", 0, 40), ("s2", 0, 50)]), source="after-crash")
    assert state_of(postgres, ["P-s1", "P-s2"], horizon_minute=0) == [("s1", 40), ("s2", 50)]


def test_a_tick_whose_exit_log_fails_is_not_stored(postgres, postgres_dsn):
    with psycopg.connect(postgres_dsn) as locker:
        locker.execute("LOCK TABLE carpark.session_exits IN ACCESS EXCLUSIVE MODE")
        impatient = PostgresResource(dsn=postgres_dsn, statement_timeout_ms=500)
        with pytest.raises(psycopg.errors.QueryCanceled):
            impatient.record_tick(tick_of([("s1", 0, 40)]), source="test")
        locker.rollback()
    assert rows(postgres, "SELECT count(*) FROM carpark.parking_sessions") == [(0,)]


def kill_once_marked(script: str, marker) -> None:
    """Run `script` in a child Python and kill -9 it as soon as it has written `marker`."""
    child = subprocess.Popen([sys.executable, "-c", script], cwd=os.getcwd())
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert child.poll() is None, "the loading process ended before the marked point"
            assert time.monotonic() < deadline, "the loading process never reached it"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()


def test_new_and_changed_sessions_of_one_tick_are_both_stored(postgres):
    postgres.record_tick(tick_of([("s1", 0, None)]), source="test")
    tick = replace(tick_of([("s1", 0, 95), ("s2", 10, None)]), known_session_ids={"s1"})
    assert postgres.record_tick(tick, source="test").sessions_written == 2
    assert rows(
        postgres,
        "SELECT session_id, charge_cents FROM carpark.parking_sessions ORDER BY session_id",
    ) == [("s1", 240), ("s2", None)]


def test_sessions_wrongly_taken_for_new_are_merged_not_duplicated(postgres):
    """An old tick run again: its sessions are outside any state read, so the tick takes
    them for new; the COPY meets the stored rows and the merge takes over."""
    postgres.record_tick(tick_of([("s1", 0, 40), ("s2", 0, None)]), source="test")
    before = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    # s2 closed meanwhile; s3 is genuinely new.
    again = tick_of([("s1", 0, 40), ("s2", 0, 70), ("s3", 5, 20)])
    assert postgres.record_tick(again, source="test").sessions_written == 2
    after = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    assert after[0] == before[0]
    assert [r[0] for r in after] == ["s1", "s2", "s3"]
    assert rows(
        postgres, "SELECT exit_time FROM carpark.parking_sessions WHERE session_id = 's2'"
    ) == [(T0 + timedelta(minutes=70),)]


# --------------------------------------------------------------------------- reading


def state_of(postgres, plates: list[str], horizon_minute: int) -> list[tuple]:
    """(session id, exit minute or None) of the stored sessions a batch touching `plates`
    may still change, when late events may go back to `horizon_minute`."""
    horizon = pd.Timestamp(T0 + timedelta(minutes=horizon_minute))
    state = postgres.session_state(
        StateQuery(
            locations=["Park0"] * len(plates),
            plates=plates,
            pending_before=horizon,
            ended_since=horizon,
            expired_before={"Park0": pd.Timestamp(T0 - timedelta(days=30))},
        )
    )
    return sorted(
        (row.session_id, None if pd.isna(row.exit_time) else (row.exit_time - T0) // MINUTE)
        for row in state.sessions.itertuples()
    )


def test_the_state_read_finds_open_and_recently_closed_sessions_once(postgres):
    three_days = 3 * 24 * 60  # the log is searched day by day, up to its last day
    postgres.record_tick(
        tick_of(
            [
                ("old", 0, 30),
                ("recent", 0, 90),
                ("open", 10, None),
                ("other", 0, 95),
                ("long", 0, three_days),
            ]
        ),
        source="test",
    )
    # A late correction moves an exit: the exit log keeps both, the session has one.
    moved = replace(tick_of([("recent", 0, 120)]), known_session_ids={"recent"})
    postgres.record_tick(moved, source="test")
    # An old tick again: its exits are logged a second time.
    postgres.record_tick(tick_of([("old", 0, 30), ("recent", 0, 120)]), source="test")
    plates = ["P-old", "P-recent", "P-open", "P-long"]
    long = ("long", three_days)
    assert state_of(postgres, plates, horizon_minute=60) == [long, ("open", None), ("recent", 120)]
    assert state_of(postgres, plates, horizon_minute=100) == [long, ("open", None), ("recent", 120)]
    assert state_of(postgres, plates, horizon_minute=20) == [
        long,
        ("old", 30),
        ("open", None),
        ("recent", 120),
    ]
    assert state_of(postgres, plates, horizon_minute=200) == [long, ("open", None)]
    assert state_of(postgres, plates, horizon_minute=three_days + 1) == [("open", None)]


def test_the_tick_inputs_are_the_state_read_and_the_stored_ids_at_once(postgres):
    """What a tick reads before it decides anything: the state read, and which of its events
    are stored already (read on a second connection, at the same time)."""
    events = [
        (f"{sid}-{kind}", f"P-{sid}", "Park0", kind, T0 + timedelta(minutes=minute))
        for sid, kind, minute in [("done", "entry", 0), ("done", "exit", 30), ("open", "entry", 5)]
    ]
    postgres.record_tick(tick_of([("done", 0, 30), ("open", 5, None)], events), source="test")
    query = StateQuery(
        locations=["Park0", "Park0"],
        plates=["P-done", "P-open"],
        pending_before=pd.Timestamp(T0),
        ended_since=pd.Timestamp(T0),
        expired_before={"Park0": pd.Timestamp(T0 - timedelta(days=30))},
    )
    state, known = postgres.tick_inputs(query, ["done-entry", "open-entry", "new-exit"])
    assert known == {"done-entry", "open-entry"}
    assert sorted(state.sessions["session_id"]) == ["done", "open"]
    assert state.sessions.equals(postgres.session_state(query).sessions)
    state, known = postgres.tick_inputs(query, [])
    assert known == set()
    assert sorted(state.sessions["session_id"]) == ["done", "open"]


@pytest.mark.parametrize("reading", ["in chunks of 3 rows", "in one piece (libpq < 17)"])
def test_keyset_pages_never_skip_rows_with_equal_timestamps(postgres, reading, monkeypatch):
    if reading.startswith("in chunks"):
        if not psycopg.capabilities.has_stream_chunked():
            pytest.skip("this libpq (< 17) has no chunked reads")
        monkeypatch.setattr(postgres_module, "READ_CHUNK_ROWS", 3)  # a page spans 3 chunks
    else:
        monkeypatch.setattr(psycopg.capabilities, "has_stream_chunked", lambda: False)
    # One tick writes every row with the same updated_at.
    postgres.record_tick(tick_of([(f"s{i:03d}", 0, 40 + i) for i in range(25)]), source="test")
    seen, mark, pages = [], EPOCH_WATERMARK, 0
    while page := postgres.changed_sessions(mark, limit=7):
        pages += 1
        seen += [row.session_id for row in page]
        mark = (page[-1].updated_at, page[-1].session_id)
    assert pages == 4
    assert seen == [f"s{i:03d}" for i in range(25)]
    assert (
        len({r[0] for r in rows(postgres, "SELECT updated_at FROM carpark.parking_sessions")}) == 1
    )


def test_a_consumer_without_watermark_starts_at_the_beginning(postgres):
    assert postgres.watermark("nobody") == EPOCH_WATERMARK
    postgres.set_watermark("nobody", (T0, "s9"))
    assert postgres.watermark("nobody") == (T0, "s9")


# --------------------------------------------------------------------------- connections


def test_a_refused_login_is_named_without_the_password(postgres_dsn):
    # The password is FAKE_PASSWORD, a placeholder: the test checks it never leaks.
    dsn = psycopg.conninfo.make_conninfo(
        postgres_dsn,
        user="nobody_here",
        password=FAKE_PASSWORD,  # placeholder
    )
    with pytest.raises(PostgresUnavailable) as caught:
        PostgresResource(dsn=dsn).migrate()
    message = str(caught.value)
    assert "127.0.0.1:" in message and "/carpark_test_" in message
    assert "nobody_here" in message  # the server's reason: the role does not exist
    assert FAKE_PASSWORD not in message


def test_statements_are_cut_off_at_the_timeout(postgres_dsn):
    quick = PostgresResource(dsn=postgres_dsn, statement_timeout_ms=100)
    with quick.connect() as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(2)")


# --------------------------------------------------------------------------- location totals

DIRECT_TOTALS = """
SELECT location_id, count(*), sum(charge_cents)::bigint FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL GROUP BY location_id ORDER BY location_id
"""


def maintained_totals(postgres) -> list[tuple]:
    return [
        (t.location_id, t.sessions, t.total_charge_cents)
        for t in postgres.closed_totals_by_location()
    ]


def test_location_totals_follow_every_kind_of_write(postgres):
    postgres.record_tick(tick_of([("s1", 0, 40), ("s2", 0, None), ("s3", 5, 200)]), "t")
    assert maintained_totals(postgres) == rows(postgres, DIRECT_TOTALS) == [("Park0", 2, 120 + 420)]
    # 40 min: 120 cents; 195 min: 420. Then a late exit closes s2 (95 min: 240), a late
    # correction shortens s3 (15 min: 60) and s1 is re-opened.
    postgres.record_tick(tick_of([("s2", 0, 95), ("s3", 5, 20), ("s1", 0, None)]), "t")
    assert maintained_totals(postgres) == rows(postgres, DIRECT_TOTALS) == [("Park0", 2, 240 + 60)]
    with postgres.connect() as conn:
        conn.execute("DELETE FROM carpark.parking_sessions WHERE session_id = 's2'")
    assert maintained_totals(postgres) == rows(postgres, DIRECT_TOTALS) == [("Park0", 1, 60)]


def test_the_copied_session_columns_are_the_domain_ones():
    assert SESSION_ROWS.names == [*PRICED_COLUMNS, "source", "updated_at"]
