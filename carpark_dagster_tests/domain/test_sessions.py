from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carpark_dagster.domain.config import parse_config
from carpark_dagster.domain.ledger import StateLedger, StateQuery
from carpark_dagster.domain.sessions import (
    CLOSED,
    EXIT_BEFORE_ENTRY,
    EXIT_NOT_RECORDED,
    EXIT_WITHOUT_ENTRY,
    FUTURE_TOLERANCE,
    IN_THE_FUTURE,
    OPEN,
    SESSION_COLUMNS,
    TOO_LATE,
    SessionState,
    close_sessions,
    price_sessions,
    session_id_for,
)
from carpark_dagster.domain.tariff import DEFAULT_TARIFF, hdb_eps
from carpark_dagster.domain.ticks import MALFORMED_PLATE, UNKNOWN_LOCATION, build_tick

T0 = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)
LATER = pd.Timestamp(T0 + timedelta(hours=18))  # "now" for most batches: everything is recent
LOCATIONS = ("Park0", "Park1", "HDB1")


def events(*rows):
    frame = pd.DataFrame(
        [
            {
                "event_id": eid,
                "plate": plate,
                "location_id": loc,
                "event_type": kind,
                "event_time": T0 + timedelta(minutes=minute),
            }
            for eid, plate, loc, kind, minute in rows
        ],
        columns=["event_id", "plate", "location_id", "event_type", "event_time"],
    )
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    return frame


class Store:
    """What PostgreSQL keeps between ticks, as the ledger of a run of several windows holds it
    (`StateLedger`, which selects what the SQL state read selects)."""

    def __init__(self, max_stay: timedelta = timedelta(hours=72), spare_earlier: bool = False):
        self.ledger = StateLedger(SessionState.empty(), ())
        self.max_stay = max_stay
        # Read as ticks do: not the sessions that ended before the plate's first event.
        self.spare_earlier = spare_earlier

    def state(self, batch: pd.DataFrame, as_of, lateness=timedelta(hours=24)) -> SessionState:
        firsts = batch.groupby(["location_id", "plate"], sort=False)["event_time"].min()
        return self.ledger.state_for(
            StateQuery(
                locations=firsts.index.get_level_values("location_id").tolist(),
                plates=firsts.index.get_level_values("plate").tolist(),
                pending_before=as_of - lateness,
                ended_since=as_of - lateness,
                expired_before={loc: as_of - self.max_stay for loc in LOCATIONS},
                first_times=list(firsts) if self.spare_earlier else None,
            )
        )

    def tick(self, batch_events, as_of=LATER, lateness=timedelta(hours=24)):
        state = self.state(batch_events, as_of, lateness)
        batch = close_sessions(
            state, batch_events, as_of=as_of, lateness=lateness, max_stay=self.max_stay
        )
        self.ledger.apply(
            batch.sessions, batch.pending, state.pending["event_id"].tolist(), batch_events
        )
        return batch

    @property
    def pending(self) -> pd.DataFrame:
        return self.ledger.pending

    def rows(self, status: str) -> dict[str, dict]:
        sessions = self.ledger.sessions
        return {
            row["session_id"]: row
            for row in sessions[sessions["status"] == status].to_dict(orient="records")
        }

    def closed(self) -> dict[str, tuple]:
        return {
            sid: (s["entry_event_id"], s["exit_event_id"]) for sid, s in self.rows(CLOSED).items()
        }

    def open(self) -> set[str]:
        return set(self.rows(OPEN))

    def ended_without_exit(self) -> dict[str, tuple]:
        return {
            sid: (s["ended_at"], s["ended_by_event_id"])
            for sid, s in self.rows(EXIT_NOT_RECORDED).items()
        }


def reasons(batch) -> dict[str, str]:
    return dict(zip(batch.anomalies["event_id"], batch.anomalies["reason"], strict=True))


def test_an_exit_closes_the_entry_of_the_same_plate_and_location():
    store = Store()
    batch = store.tick(
        events(
            ("e1", "SAB1234A", "Park0", "entry", 0),
            ("e2", "SAB1234A", "Park1", "entry", 1),
            ("x1", "SAB1234A", "Park0", "exit", 45),
        )
    )
    assert store.closed() == {session_id_for("e1"): ("e1", "x1")}
    assert store.open() == {session_id_for("e2")}
    assert batch.anomalies.empty and batch.pending.empty


def test_the_latest_entry_before_the_exit_is_the_one_closed():
    store = Store()
    store.tick(
        events(
            ("e1", "P1", "Park0", "entry", 0),
            ("x1", "P1", "Park0", "exit", 10),
            ("e2", "P1", "Park0", "entry", 20),
            ("x2", "P1", "Park0", "exit", 50),
        )
    )
    assert store.closed() == {
        session_id_for("e1"): ("e1", "x1"),
        session_id_for("e2"): ("e2", "x2"),
    }


def test_open_sessions_carry_over_to_a_later_tick_and_are_priced_then():
    store = Store()
    store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    batch = store.tick(events(("x1", "P1", "Park0", "exit", 95)))
    priced = price_sessions(batch.sessions, DEFAULT_TARIFF)
    assert priced["session_id"].tolist() == [session_id_for("e1")]
    assert priced["charge_cents"].tolist() == [240]  # 95 minutes: four started half hours
    assert priced["duration_seconds"].tolist() == [95 * 60]


def test_an_exit_that_arrives_before_its_entry_waits_for_it():
    store = Store()
    first = store.tick(events(("x1", "P1", "Park0", "exit", 30)))
    assert first.anomalies.empty
    assert first.pending["event_id"].tolist() == ["x1"]
    store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    assert store.closed() == {session_id_for("e1"): ("e1", "x1")}
    assert store.pending.empty


def test_a_late_exit_corrects_a_session_closed_by_a_later_one():
    store = Store()
    store.tick(events(("e1", "P1", "Park0", "entry", 0), ("x2", "P1", "Park0", "exit", 50)))
    assert store.closed() == {session_id_for("e1"): ("e1", "x2")}
    # The real exit of the first stay and the second stay's entry arrive late.
    store.tick(events(("x1", "P1", "Park0", "exit", 10), ("e2", "P1", "Park0", "entry", 20)))
    assert store.closed() == {
        session_id_for("e1"): ("e1", "x1"),
        session_id_for("e2"): ("e2", "x2"),
    }
    assert store.pending.empty


def test_a_second_entry_ends_the_parked_session_with_its_exit_not_recorded():
    store = Store()
    store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    batch = store.tick(events(("e2", "P1", "Park0", "entry", 60)))
    assert batch.anomalies.empty and batch.pending.empty
    assert store.ended_without_exit() == {
        session_id_for("e1"): (pd.Timestamp(T0 + timedelta(minutes=60)), "e2")
    }
    assert store.open() == {session_id_for("e2")}
    # A day later nothing changes: an ended session stays ended.
    assert store.tick(events(), as_of=LATER + timedelta(days=1)).sessions.empty


def test_a_late_exit_still_closes_a_session_a_later_entry_had_ended():
    store = Store()
    store.tick(events(("e1", "P1", "Park0", "entry", 0), ("e2", "P1", "Park0", "entry", 60)))
    assert set(store.ended_without_exit()) == {session_id_for("e1")}
    batch = store.tick(events(("x1", "P1", "Park0", "exit", 30)))
    assert store.closed() == {session_id_for("e1"): ("e1", "x1")}
    assert store.ended_without_exit() == {}
    assert store.open() == {session_id_for("e2")}
    assert batch.sessions["session_id"].tolist() == [session_id_for("e1")]


def test_a_new_earlier_entry_is_ended_by_the_stored_later_one_until_its_exit_comes():
    store = Store()
    store.tick(events(("e2", "P1", "Park0", "entry", 60)))
    batch = store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    assert batch.pending.empty
    assert store.open() == {session_id_for("e2")}
    assert set(store.ended_without_exit()) == {session_id_for("e1")}
    # Its exit arrives: the early stay closes and the stored one stays open.
    store.tick(events(("x1", "P1", "Park0", "exit", 30)))
    assert store.closed() == {session_id_for("e1"): ("e1", "x1")}
    assert store.open() == {session_id_for("e2")}


def test_the_lost_exit_of_day_one_does_not_charge_the_visit_of_day_four():
    """The plate parks on day 1 and its exit is never read; it visits again on day 4 from
    09:00 to 10:00. Ticks every five minutes."""
    day1 = pd.Timestamp("2026-11-02T09:00+08:00")
    day4 = day1 + timedelta(days=3)
    store = Store()

    def at(moment, *rows):
        frame = events(*[(eid, "SBS1234A", "Park0", kind, 0) for eid, kind in rows])
        frame["event_time"] = moment
        return store.tick(frame, as_of=moment + timedelta(minutes=5))

    at(day1, ("d1-in", "entry"))
    store.tick(events(), as_of=day4)  # a tick just before: 72 h, not yet more
    assert store.open() == {session_id_for("d1-in")}
    at(day4, ("d4-in", "entry"))
    at(day4 + timedelta(hours=1), ("d4-out", "exit"))

    assert store.ended_without_exit() == {session_id_for("d1-in"): (day4, "d4-in")}
    assert store.closed() == {session_id_for("d4-in"): ("d4-in", "d4-out")}
    day4_visit = pd.DataFrame([store.rows(CLOSED)[session_id_for("d4-in")]])
    assert price_sessions(day4_visit, DEFAULT_TARIFF)["charge_cents"].tolist() == [120]


def test_an_open_session_past_the_max_stay_ends_then_with_no_deciding_event():
    store = Store(max_stay=timedelta(hours=72))
    store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    exactly = pd.Timestamp(T0 + timedelta(hours=72))
    assert store.tick(events(), as_of=exactly).sessions.empty  # 72 h is not older than 72 h
    batch = store.tick(events(), as_of=exactly + timedelta(microseconds=1))
    assert store.ended_without_exit() == {session_id_for("e1"): (exactly, None)}
    assert batch.sessions["status"].tolist() == [EXIT_NOT_RECORDED]
    # An exit that turns up later finds no open entry: it waits, then is quarantined.
    late = store.tick(
        events(("x1", "P1", "Park0", "exit", 73 * 60)), as_of=exactly + timedelta(hours=2)
    )
    assert late.pending["event_id"].tolist() == ["x1"]
    assert set(store.ended_without_exit()) == {session_id_for("e1")}


def test_an_exit_exactly_at_the_max_stay_still_closes_the_session():
    store = Store(max_stay=timedelta(hours=72))
    store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    store.tick(
        events(("x1", "P1", "Park0", "exit", 72 * 60)),
        as_of=pd.Timestamp(T0 + timedelta(hours=72, minutes=5)),
    )
    assert store.closed() == {session_id_for("e1"): ("e1", "x1")}


def test_sessions_that_ended_without_exit_are_charged_the_tariffs_lost_exit_charge():
    store = Store()
    batch = store.tick(
        events(("e1", "P1", "Park0", "entry", 0), ("e2", "P1", "Park0", "entry", 90))
    )
    plain = price_sessions(batch.sessions, DEFAULT_TARIFF).set_index("session_id")
    assert plain.loc[session_id_for("e1"), "charge_cents"] == 0  # not charged by default
    assert pd.isna(plain.loc[session_id_for("e1"), "duration_seconds"])
    assert pd.isna(plain.loc[session_id_for("e2"), "charge_cents"])  # still open
    charging = replace(DEFAULT_TARIFF, lost_exit_charge_cents=1500)
    priced = price_sessions(batch.sessions, charging).set_index("session_id")
    assert priced.loc[session_id_for("e1"), "charge_cents"] == 1500


def test_unpaired_exits_become_anomalies_after_the_lateness_window():
    store = Store()
    store.tick(events(("x0", "P9", "Park0", "exit", 1)))
    store.tick(events(("e1", "P1", "Park0", "entry", 60), ("x1", "P1", "Park0", "exit", 30)))
    batch = store.tick(events(), as_of=LATER + timedelta(days=1))
    found = reasons(batch)
    assert found["x0"] == EXIT_WITHOUT_ENTRY
    assert found["x1"].startswith(EXIT_BEFORE_ENTRY)
    assert store.pending.empty
    record = batch.anomalies.set_index("event_id").loc["x0", "record"]
    assert record["plate"] == "P9" and record["event_type"] == "exit"


def test_events_outside_the_lateness_window_or_from_the_future_are_set_aside():
    store = Store()
    batch = store.tick(
        events(
            ("old", "P1", "Park0", "entry", -2 * 24 * 60),
            ("soon", "P1", "Park0", "entry", 19 * 60),
        )
    )
    found = reasons(batch)
    assert found["old"].startswith(TOO_LATE)
    assert found["soon"] == IN_THE_FUTURE
    assert batch.sessions.empty


def test_re_applying_the_same_events_changes_nothing():
    store = Store()
    batch_events = events(("e1", "P1", "Park0", "entry", 0), ("x1", "P1", "Park0", "exit", 40))
    store.tick(batch_events)
    again = close_sessions(store.state(batch_events, LATER), events(), LATER)
    assert again.sessions.empty
    assert list(again.sessions.columns) == SESSION_COLUMNS


# --------------------------------------------------------------------------- properties


@st.composite
def stays_and_arrivals(draw):
    """Non-overlapping stays of a few plates, and a random way their events arrive."""
    rows = []
    for p in range(draw(st.integers(1, 4))):
        t = draw(st.integers(0, 60))
        for s in range(draw(st.integers(1, 4))):
            entry = t + draw(st.integers(0, 60))
            exit_ = entry + draw(st.integers(0, 180))  # all within LATER, for any draw
            rows.append((f"e{p}-{s}", f"P{p}", "Park0", "entry", entry))
            rows.append((f"x{p}-{s}", f"P{p}", "Park0", "exit", exit_))
            t = exit_ + 1
    order = draw(st.permutations(range(len(rows))))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), max_size=5)))
    return rows, [
        [rows[i] for i in order[a:b]] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)
    ]


@settings(max_examples=200, deadline=None)
@given(stays_and_arrivals())
def test_sessions_do_not_depend_on_the_order_events_arrive_in(case):
    rows, batches = case
    store = Store()
    for batch_rows in batches:
        batch = store.tick(events(*batch_rows))
        assert batch.anomalies.empty
    expected = {
        session_id_for(eid): (eid, "x" + eid[1:]) for eid, *_ in rows if eid.startswith("e")
    }
    assert store.closed() == expected
    assert store.pending.empty and not store.open()


def lost(row) -> bool:
    """A fixed third of the entries, as if the entry gate had missed those cars."""
    return row[3] == "entry" and sum(map(ord, row[0])) % 3 == 0


@settings(max_examples=100, deadline=None)
@given(stays_and_arrivals())
def test_every_event_ends_in_a_session_a_waiting_list_or_quarantine(case):
    _, batches = case
    store = Store()
    quarantined = []
    for batch_rows in batches:
        # Drop a random-looking share of entries: their exits must still be accounted for.
        kept = [r for r in batch_rows if not lost(r)]
        quarantined += store.tick(events(*kept)).anomalies["event_id"].tolist()
    quarantined += (
        store.tick(events(), as_of=LATER + timedelta(days=2)).anomalies["event_id"].tolist()
    )
    in_sessions = {e for pair in store.closed().values() for e in pair}
    in_sessions |= {sid.removeprefix("ses-") for sid in store.open()}
    in_sessions |= {sid.removeprefix("ses-") for sid in store.ended_without_exit()}
    sent = {r[0] for batch_rows in batches for r in batch_rows if not lost(r)}
    assert sent == in_sessions | set(quarantined)
    assert store.pending.empty


@st.composite
def visits_with_lost_reads(draw):
    """Stays of a few plates at two locations, some with a lost entry or exit read, some
    re-read (the same event twice), arriving in random batches at random times of a day."""
    rows = []
    for p in range(draw(st.integers(1, 2))):
        for loc in draw(st.sampled_from([("Park0",), ("Park0", "Park1")])):
            t = draw(st.integers(0, 120))
            for s in range(draw(st.integers(1, 5))):
                entry = t + draw(st.integers(0, 120))
                exit_ = entry + draw(st.integers(0, 300))
                read = draw(st.sampled_from(["both", "both", "no entry", "no exit"]))
                if read != "no entry":
                    rows.append((f"e{p}{loc}{s}", f"P{p}", loc, "entry", entry))
                if read != "no exit":
                    rows.append((f"x{p}{loc}{s}", f"P{p}", loc, "exit", exit_))
                t = exit_ + draw(st.integers(0, 30))
    if rows and draw(st.booleans()):
        rows.append(rows[draw(st.integers(0, len(rows) - 1))])  # a gate sends one twice
    order = draw(st.permutations(range(len(rows))))
    cuts = sorted(draw(st.lists(st.integers(0, len(rows)), min_size=1, max_size=6)))
    batches = [
        [rows[i] for i in order[a:b]] for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True)
    ]
    # Each batch is judged soon after its last event (or after the one before), now and then
    # a day or two later: past the max stay or the lateness window of earlier events.
    times, now = [], T0
    for batch in batches:
        last = max((T0 + timedelta(minutes=r[4]) for r in batch), default=now)
        delay = draw(st.sampled_from([0, 5, 5, 60, 180, 26 * 60, 50 * 60]))
        now = max(now, last) + timedelta(minutes=delay)
        times.append(pd.Timestamp(now))
    return batches, times


def _outcome(batch) -> tuple:
    return (
        batch.sessions.sort_values("session_id").reset_index(drop=True).to_dict("records"),
        sorted(batch.pending["event_id"]),
        sorted(batch.anomalies["event_id"]),
    )


@settings(max_examples=300, deadline=None)
@given(visits_with_lost_reads())
def test_sessions_ended_before_a_plates_first_event_are_not_needed(case):
    """The state read leaves out a plate's sessions that ended before its first event in the
    batch (`StateQuery.first_times`): tick after tick, every batch is what reading them all
    would have made, with lost reads, duplicates, late and out-of-order arrivals, max stays
    and the lateness window crossed."""
    batches, times = case
    every, spared = (
        Store(max_stay=timedelta(hours=30)),
        Store(max_stay=timedelta(hours=30), spare_earlier=True),
    )
    for batch_rows, as_of in zip(batches, times, strict=True):
        batch = events(*batch_rows).drop_duplicates("event_id")
        assert _outcome(spared.tick(batch, as_of=as_of)) == _outcome(every.tick(batch, as_of=as_of))
    assert (
        spared.ledger.sessions.sort_values("session_id")
        .reset_index(drop=True)
        .equals(every.ledger.sessions.sort_values("session_id").reset_index(drop=True))
    )


def test_a_session_that_ends_at_the_plates_first_event_is_still_read():
    """On the edge: an exit and the next entry at the same instant (entries sort first)."""
    every, spared = Store(), Store(spare_earlier=True)
    first = events(("e1", "P1", "Park0", "entry", 0), ("x1", "P1", "Park0", "exit", 30))
    second = events(("e2", "P1", "Park0", "entry", 30))
    for batch in (first, second):
        assert _outcome(spared.tick(batch)) == _outcome(every.tick(batch))
    assert (
        spared.ledger.sessions.sort_values("session_id")
        .reset_index(drop=True)
        .equals(every.ledger.sessions.sort_values("session_id").reset_index(drop=True))
    )


# --------------------------------------------------------------------------- ticks

CONFIG = parse_config(
    {
        "tariffs": {
            "default": {"billing": "per_block", "block_minutes": 30, "rate_cents": 60},
            "hdb_eps": {"preset": "hdb_eps"},
        },
        "locations": {
            "Park0": {"tariff": "default", "capacity": 10, "sessions_per_day": 10},
            "HDB1": {
                "tariff": "hdb_eps",
                "plate_rule": "sg",
                "capacity": 10,
                "sessions_per_day": 10,
            },
        },
    }
)


def test_a_tick_drops_duplicates_and_events_seen_before():
    tick = build_tick(
        events(
            ("e1", "P1", "Park0", "entry", 0),
            ("e1", "P1", "Park0", "entry", 0),
            ("e0", "P0", "Park0", "entry", 0),
        ),
        already_seen={"e0"},
        state=SessionState.empty(),
        config=CONFIG,
        as_of=LATER,
    )
    assert tick.duplicate_events == 1
    assert tick.already_seen_events == 1
    assert tick.events["event_id"].tolist() == ["e1"]
    assert tick.opened["session_id"].tolist() == [session_id_for("e1")]


def test_a_tick_sets_aside_unknown_locations_and_plates_the_location_refuses():
    tick = build_tick(
        events(
            ("a", "SBS3229P", "Nowhere", "entry", 0),
            ("b", "SBS3229Q", "HDB1", "entry", 0),  # wrong checksum letter
            ("c", "SBS3229P", "HDB1", "entry", 0),
            ("d", "ABC 123", "Park0", "entry", 0),
        ),
        already_seen=set(),
        state=SessionState.empty(),
        config=CONFIG,
        as_of=LATER,
    )
    found = dict(zip(tick.anomalies["event_id"], tick.anomalies["reason"], strict=True))
    # Fixed texts: never the location or plate received (those stay in the record).
    assert found["a"] == UNKNOWN_LOCATION == "unknown location"
    assert found["b"] == f"{MALFORMED_PLATE} (rule sg)" == "malformed plate (rule sg)"
    assert set(found) == {"a", "b"}
    assert sorted(tick.opened["entry_event_id"]) == ["c", "d"]
    assert len(tick.events) == 4  # every event is kept as received, anomalies included


def test_each_location_is_priced_with_its_own_tariff():
    tick = build_tick(
        events(
            ("e1", "P1", "Park0", "entry", 0),
            ("x1", "P1", "Park0", "exit", 16),
            ("e2", "SBS3229P", "HDB1", "entry", 0),
            ("x2", "SBS3229P", "HDB1", "exit", 16),
        ),
        already_seen=set(),
        state=SessionState.empty(),
        config=CONFIG,
        as_of=LATER,
    )
    charges = dict(zip(tick.closed["location_id"], tick.closed["charge_cents"], strict=True))
    tariffs = dict(zip(tick.closed["location_id"], tick.closed["tariff"], strict=True))
    assert charges == {"Park0": 60, "HDB1": 32}  # 16 minutes: one block; 16 minutes at 2 cents
    assert tariffs == {"Park0": "default", "HDB1": "hdb_eps"}


def test_open_sessions_are_unpriced():
    store = Store()
    batch = store.tick(events(("e1", "P1", "Park0", "entry", 0)))
    priced = price_sessions(batch.sessions, {"Park0": hdb_eps()})
    assert priced["charge_cents"].isna().all()
    assert priced["duration_seconds"].isna().all()
    assert priced["tariff"].tolist() == ["hdb_eps"]


def test_pricing_a_location_without_a_tariff_is_an_error():
    store = Store()
    batch = store.tick(events(("e1", "P1", "Park9", "entry", 0)))
    with pytest.raises(KeyError, match="Park9"):
        price_sessions(batch.sessions, {"Park0": DEFAULT_TARIFF})


def test_a_tick_names_the_stored_sessions_it_read_as_known():
    stored = pd.DataFrame(
        [
            {
                "session_id": session_id_for("e0"),
                "plate": "P0",
                "location_id": "Park0",
                "entry_event_id": "e0",
                "exit_event_id": None,
                "entry_time": pd.Timestamp(T0),
                "exit_time": pd.NaT,
                "status": OPEN,
                "ended_at": pd.NaT,
                "ended_by_event_id": None,
            }
        ]
    )
    for column in ("exit_time", "ended_at"):
        stored[column] = pd.to_datetime(stored[column], utc=True)
    tick = build_tick(
        events(("x0", "P0", "Park0", "exit", 30), ("e1", "P1", "Park0", "entry", 31)),
        already_seen=set(),
        state=SessionState(sessions=stored, pending=SessionState.empty().pending),
        config=CONFIG,
        as_of=LATER,
    )
    assert sorted(tick.sessions["session_id"]) == [session_id_for("e0"), session_id_for("e1")]
    assert tick.known_session_ids == {session_id_for("e0")}


# --------------------------------------------------------------------------- edges


@pytest.mark.parametrize(
    ("offset", "set_aside"),
    [(timedelta(0), False), (-timedelta(microseconds=1), True)],
)
def test_an_event_exactly_at_the_lateness_edge_is_taken_and_one_before_it_is_not(offset, set_aside):
    lateness = timedelta(hours=24)
    edge = LATER - lateness + offset
    frame = events(("e1", "P1", "Park0", "entry", 0))
    frame["event_time"] = edge
    batch = close_sessions(SessionState.empty(), frame, as_of=LATER, lateness=lateness)
    if set_aside:
        assert reasons(batch)["e1"] == f"{TOO_LATE} ({lateness})"
        assert batch.sessions.empty
    else:
        assert batch.anomalies.empty
        assert batch.sessions["entry_time"].tolist() == [edge]


@pytest.mark.parametrize(
    ("offset", "set_aside"),
    [(timedelta(0), False), (timedelta(microseconds=1), True)],
)
def test_an_event_exactly_at_the_future_tolerance_is_taken_and_one_after_it_is_not(
    offset, set_aside
):
    frame = events(("e1", "P1", "Park0", "entry", 0))
    frame["event_time"] = LATER + FUTURE_TOLERANCE + offset
    batch = close_sessions(SessionState.empty(), frame, as_of=LATER)
    assert (reasons(batch).get("e1") == IN_THE_FUTURE) is set_aside
    assert batch.sessions.empty is set_aside


def test_an_exit_at_the_same_instant_as_its_entry_closes_it_for_nothing():
    store = Store()
    # The exit's id sorts before the entry's: the order of kinds decides, not the ids.
    batch = store.tick(
        events(("a-out", "P1", "Park0", "exit", 10), ("z-in", "P1", "Park0", "entry", 10))
    )
    assert store.closed() == {session_id_for("z-in"): ("z-in", "a-out")}
    priced = price_sessions(batch.sessions, DEFAULT_TARIFF)
    assert priced["charge_cents"].tolist() == [0]
    assert priced["duration_seconds"].tolist() == [0]


def test_a_pending_exit_is_given_up_exactly_when_it_falls_out_of_the_window():
    store = Store()
    store.tick(events(("x1", "P1", "Park0", "exit", 0)))
    edge = pd.Timestamp(T0 + timedelta(hours=24))  # as_of - lateness == the exit's time
    assert store.tick(events(), as_of=edge).anomalies.empty
    assert store.pending["event_id"].tolist() == ["x1"]
    later = store.tick(events(), as_of=edge + timedelta(microseconds=1))
    assert reasons(later) == {"x1": EXIT_WITHOUT_ENTRY}
    assert store.pending.empty


def test_charges_and_durations_are_whole_numbers_never_floats():
    store = Store()
    batch = store.tick(
        events(
            ("e1", "P1", "Park0", "entry", 0),
            ("x1", "P1", "Park0", "exit", 95),
            ("e2", "P2", "Park0", "entry", 5),
            ("e3", "P2", "Park0", "entry", 50),  # ends P2's first stay: exit not recorded
        )
    )
    priced = price_sessions(batch.sessions, DEFAULT_TARIFF).set_index("session_id")
    assert str(priced["charge_cents"].dtype) == "Int64"
    assert str(priced["duration_seconds"].dtype) == "Int64"
    assert priced.loc[session_id_for("e1"), "charge_cents"] == 240
    assert priced.loc[session_id_for("e2"), "charge_cents"] == 0
    assert priced.loc[session_id_for("e3"), "charge_cents"] is pd.NA


def test_every_plate_past_its_max_stay_is_ended_not_only_the_last_one_looked_at():
    store = Store(max_stay=timedelta(hours=3))
    store.tick(
        events(
            ("a1", "P-A", "Park0", "entry", 0),
            ("b1", "P-B", "Park0", "entry", 1),
            ("c1", "P-C", "Park1", "entry", 2),
        )
    )
    store.tick(events(), as_of=pd.Timestamp(T0 + timedelta(hours=4)))
    assert store.open() == set()
    assert {sid: by for sid, (_, by) in store.ended_without_exit().items()} == {
        session_id_for("a1"): None,
        session_id_for("b1"): None,
        session_id_for("c1"): None,
    }


def test_an_old_window_processed_again_leaves_an_expired_session_ended():
    """A replay of the entry's window, after the stay expired: its events are known, and the
    stored end stands, though the replay's time is before it."""
    store = Store(max_stay=timedelta(hours=3))
    entry = events(("e1", "P1", "Park0", "entry", 0))
    store.tick(entry, as_of=pd.Timestamp(T0 + timedelta(minutes=5)))
    store.tick(events(), as_of=pd.Timestamp(T0 + timedelta(hours=4)))
    assert set(store.ended_without_exit()) == {session_id_for("e1")}

    config = parse_config(
        {
            "defaults": {"max_stay_hours": 3, "capacity": 10, "sessions_per_day": 10},
            "tariffs": {"default": {}},
            "locations": {"Park0": {}},
        }
    )
    replay = build_tick(
        entry,
        already_seen={"e1"},
        state=store.state(entry, pd.Timestamp(T0 + timedelta(minutes=5))),
        config=config,
        as_of=pd.Timestamp(T0 + timedelta(minutes=5)),
    )
    assert replay.already_seen_events == 1
    assert replay.sessions.empty  # not re-opened, nor ended again elsewhere


def test_an_exit_before_the_only_open_entry_is_named_so():
    store = Store()
    store.tick(events(("e1", "P1", "Park0", "entry", 60), ("x0", "P1", "Park0", "exit", 30)))
    batch = store.tick(events(), as_of=LATER + timedelta(days=1))
    assert reasons(batch) == {"x0": EXIT_BEFORE_ENTRY}  # a fixed text, not the session's id


def test_a_waiting_exit_read_again_exactly_at_the_edge_still_waits():
    store = Store()
    store.tick(events(("x1", "P1", "Park0", "exit", 0)))
    edge = pd.Timestamp(T0 + timedelta(hours=24))  # as_of - lateness == the exit's time
    # A later entry of the plate makes the tick read the waiting exit at exactly the edge.
    batch = store.tick(events(("e2", "P1", "Park0", "entry", 24 * 60)), as_of=edge)
    assert batch.anomalies.empty
    assert batch.pending["event_id"].tolist() == ["x1"]


def test_a_quarantined_event_keeps_its_whole_record():
    store = Store()
    store.tick(events(("x0", "P9", "Park1", "exit", 1)))
    batch = store.tick(events(), as_of=LATER + timedelta(days=1))
    [record] = batch.anomalies["record"].tolist()
    assert record == {
        "event_id": "x0",
        "plate": "P9",
        "location_id": "Park1",
        "event_type": "exit",
        "event_time": (T0 + timedelta(minutes=1)).isoformat(),
    }
