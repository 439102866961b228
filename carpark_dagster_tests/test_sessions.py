from datetime import UTC, datetime, timedelta

import pandas as pd

from carpark_dagster.domain.sessions import (
    ENTRY_WHILE_PARKED,
    EXIT_BEFORE_ENTRY,
    EXIT_WITHOUT_ENTRY,
    SESSION_COLUMNS,
    close_sessions,
    price_sessions,
    session_id_for,
)
from carpark_dagster.domain.tariff import DEFAULT_TARIFF
from carpark_dagster.domain.ticks import build_tick

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


def events(*rows):
    return pd.DataFrame(
        [
            {
                "event_id": eid,
                "plate": plate,
                "location_id": loc,
                "event_type": kind,
                "event_time": T0 + timedelta(minutes=minute),
            }
            for eid, plate, loc, kind, minute in rows
        ]
    ).astype({"event_time": "datetime64[ns, UTC]"})


NO_OPEN = pd.DataFrame(columns=SESSION_COLUMNS)


def test_an_exit_closes_the_entry_of_the_same_plate_and_location():
    batch = close_sessions(
        NO_OPEN,
        events(
            ("e1", "SAB1234A", "Park0", "entry", 0),
            ("e2", "SAB1234A", "Park1", "entry", 1),
            ("x1", "SAB1234A", "Park0", "exit", 45),
        ),
    )
    closed = batch.closed.set_index("session_id")
    assert list(closed.index) == [session_id_for("e1")]
    assert closed.loc[session_id_for("e1"), "exit_event_id"] == "x1"
    assert list(batch.opened["session_id"]) == [session_id_for("e2")]
    assert batch.anomalies.empty


def test_open_sessions_carry_over_from_an_earlier_tick():
    first = close_sessions(NO_OPEN, events(("e1", "P1", "Park0", "entry", 0)))
    second = close_sessions(first.opened, events(("x1", "P1", "Park0", "exit", 95)))
    priced = price_sessions(second.sessions, DEFAULT_TARIFF)
    assert priced["session_id"].tolist() == [session_id_for("e1")]
    assert priced["charge_cents"].tolist() == [240]  # 95 minutes: four started half hours
    assert priced["duration_seconds"].tolist() == [95 * 60]


def test_events_in_any_order_within_a_batch_pair_by_time():
    shuffled = events(
        ("x1", "P1", "Park0", "exit", 30),
        ("e1", "P1", "Park0", "entry", 0),
    )
    batch = close_sessions(NO_OPEN, shuffled)
    assert batch.closed["session_id"].tolist() == [session_id_for("e1")]


def test_anomalies_are_reported_with_reasons_and_never_dropped():
    batch = close_sessions(
        NO_OPEN,
        events(
            ("x0", "P9", "Park0", "exit", 1),  # nobody parked
            ("e1", "P1", "Park0", "entry", 2),
            ("e2", "P1", "Park0", "entry", 3),  # already parked
        ),
    )
    reasons = dict(zip(batch.anomalies["event_id"], batch.anomalies["reason"], strict=True))
    assert reasons["x0"] == EXIT_WITHOUT_ENTRY
    assert reasons["e2"].startswith(ENTRY_WHILE_PARKED)
    assert batch.opened["session_id"].tolist() == [session_id_for("e1")]
    record = batch.anomalies.set_index("event_id").loc["x0", "record"]
    assert record["plate"] == "P9" and record["event_type"] == "exit"


def test_an_exit_before_the_open_entry_is_an_anomaly():
    open_now = close_sessions(NO_OPEN, events(("e1", "P1", "Park0", "entry", 60))).opened
    batch = close_sessions(open_now, events(("x1", "P1", "Park0", "exit", 10)))
    assert batch.sessions.empty
    assert batch.anomalies["reason"].iloc[0].startswith(EXIT_BEFORE_ENTRY)


def test_a_tick_drops_duplicates_and_events_seen_before():
    tick = build_tick(
        events(
            ("e1", "P1", "Park0", "entry", 0),
            ("e1", "P1", "Park0", "entry", 0),
            ("e0", "P0", "Park0", "entry", 0),
        ),
        already_seen={"e0"},
        open_sessions=NO_OPEN,
        tariff=DEFAULT_TARIFF,
    )
    assert tick.duplicate_events == 1
    assert tick.already_seen_events == 1
    assert tick.events["event_id"].tolist() == ["e1"]
    assert tick.opened["session_id"].tolist() == [session_id_for("e1")]


def test_open_sessions_are_unpriced():
    batch = close_sessions(NO_OPEN, events(("e1", "P1", "Park0", "entry", 0)))
    priced = price_sessions(batch.sessions, DEFAULT_TARIFF)
    assert priced["charge_cents"].isna().all()
    assert priced["tariff"].tolist() == ["default"]
