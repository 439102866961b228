from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from carpark_dagster.domain.plates import is_valid_sg_plate
from carpark_dagster.domain.simulator import (
    DEFAULT_TRAFFIC,
    LOCAL_TZ,
    LocationTraffic,
    SimulationConfig,
    simulate_window,
)

START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # a Friday, 08:00 in Singapore


def test_a_window_is_simulated_identically_every_time():
    end = START + timedelta(minutes=5)
    first = simulate_window(SimulationConfig(seed=3), START, end)
    second = simulate_window(SimulationConfig(seed=3), START, end)
    assert len(first) > 0
    assert first.to_csv(index=False) == second.to_csv(index=False)


def test_consecutive_windows_deliver_exactly_the_events_of_a_longer_one():
    config = SimulationConfig(seed=5, dirty_share=0.2)
    whole = simulate_window(config, START, START + timedelta(hours=2))
    parts = pd.concat(
        [
            simulate_window(config, START + timedelta(minutes=m), START + timedelta(minutes=m + 5))
            for m in range(0, 120, 5)
        ],
        ignore_index=True,
    )
    assert whole.to_csv(index=False) == parts.to_csv(index=False)


def test_event_ids_are_unique_except_for_deliberate_duplicates():
    clean = simulate_window(SimulationConfig(dirty_share=0), START, START + timedelta(days=1))
    assert clean["event_id"].is_unique
    dirty = simulate_window(SimulationConfig(dirty_share=0.3), START, START + timedelta(days=1))
    repeated = dirty[dirty["event_id"].duplicated(keep=False)]
    assert len(repeated) > 0
    # A duplicate is the same event delivered twice: every field is identical.
    assert repeated.drop_duplicates().shape[0] == repeated["event_id"].nunique()


def _day(config: SimulationConfig) -> pd.DataFrame:
    """Events of a whole day and the day before, so that every car of the day is seen."""
    return simulate_window(config, START - timedelta(days=2), START + timedelta(days=1))


def test_every_exit_follows_its_entry_with_the_same_plate():
    day = _day(SimulationConfig(seed=11, dirty_share=0))
    entries = day[day.event_type == "entry"]
    exits = day[day.event_type == "exit"]
    entries = entries.set_index(entries.event_id.str.removesuffix("-in"))
    exits = exits.set_index(exits.event_id.str.removesuffix("-out"))
    both = entries.merge(exits, left_index=True, right_index=True, suffixes=("_in", "_out"))
    assert len(both) > 1000
    assert (both.event_time_out >= both.event_time_in).all()
    assert (both.plate_in == both.plate_out).all()
    assert (both.event_time_out - both.event_time_in).max() <= pd.Timedelta(hours=47)


@pytest.mark.parametrize("capacity", [5, 40])
def test_occupancy_never_exceeds_capacity(capacity):
    traffic = (LocationTraffic("Tiny", capacity=capacity, sessions_per_day=600),)
    config = SimulationConfig(seed=2, locations=traffic, dirty_share=0)
    begin = START - timedelta(days=5)
    events = simulate_window(config, begin, START + timedelta(days=2))
    entries = events[events.event_type == "entry"].set_index(
        events.event_id[events.event_type == "entry"].str.removesuffix("-in")
    )
    exits = events[events.event_type == "exit"].set_index(
        events.event_id[events.event_type == "exit"].str.removesuffix("-out")
    )
    stays = entries.merge(
        exits, left_index=True, right_index=True, how="left", suffixes=("_in", "_out")
    )
    # Cars that entered before `begin` are gone 47 h later: judge the occupancy after that.
    judged_from = pd.Timestamp(begin + timedelta(hours=48))
    moments = stays["event_time_in"][stays["event_time_in"] >= judged_from]
    inside = [((stays.event_time_in <= t) & ~(stays.event_time_out <= t)).sum() for t in moments]
    assert max(inside) <= capacity
    assert max(inside) >= capacity // 2  # demand is high enough to fill most of it


def test_weekends_are_quieter_and_mornings_busier_than_nights():
    config = SimulationConfig(seed=4, dirty_share=0)
    friday = simulate_window(config, START - timedelta(hours=8), START + timedelta(hours=16))
    saturday = simulate_window(config, START + timedelta(hours=16), START + timedelta(hours=40))
    entries = friday[friday.event_type == "entry"]
    assert (saturday.event_type == "entry").sum() < 0.85 * len(entries)
    local_hours = entries["event_time"].dt.tz_convert(LOCAL_TZ).dt.hour
    assert (local_hours.between(7, 9)).sum() > 5 * (local_hours.between(1, 3)).sum()


def test_plates_follow_the_location_rule():
    sg_only = tuple(replace(t, plate_rule="sg") for t in DEFAULT_TRAFFIC)
    events = simulate_window(SimulationConfig(locations=sg_only), START, START + timedelta(hours=3))
    assert events["plate"].map(is_valid_sg_plate).all()
    mixed = simulate_window(SimulationConfig(), START, START + timedelta(hours=3))
    foreign = ~mixed["plate"].map(is_valid_sg_plate)
    assert 0 < foreign.mean() < 0.15  # a few foreign (Faker) plates where any plate is allowed


def test_lost_entries_leave_exits_without_entries():
    day = _day(SimulationConfig(seed=9, dirty_share=0.3))
    numbers_in = set(day[day.event_type == "entry"].event_id.str.removesuffix("-in"))
    numbers_out = set(day[day.event_type == "exit"].event_id.str.removesuffix("-out"))
    assert len(numbers_out - numbers_in) > 10


def test_lost_exits_leave_entries_without_exits():
    day = _day(SimulationConfig(seed=9, dirty_share=0.3))
    numbers_in = set(day[day.event_type == "entry"].event_id.str.removesuffix("-in"))
    numbers_out = set(day[day.event_type == "exit"].event_id.str.removesuffix("-out"))
    assert len(numbers_in - numbers_out) > 10


def test_a_carpark_that_starts_empty_sees_no_car_that_entered_before():
    config = SimulationConfig(seed=3, dirty_share=0)
    since = START + timedelta(hours=9)
    later = simulate_window(config, since, since + timedelta(hours=3), since=since)
    everything = simulate_window(config, since, since + timedelta(hours=3))
    entered = set(later[later.event_type == "entry"].event_id.str.removesuffix("-in"))
    exited = set(later[later.event_type == "exit"].event_id.str.removesuffix("-out"))
    assert exited <= entered  # every exit is of a car seen entering
    assert (later["event_time"] >= since).all()
    # The cars parked before `since` are all that is left out.
    left_out = everything[~everything["event_id"].isin(later["event_id"])]
    assert len(left_out) > 0
    assert (left_out["event_type"] == "exit").all()


def test_late_events_are_delivered_after_their_time():
    config = SimulationConfig(seed=13, dirty_share=0.3)
    window_start = START + timedelta(hours=6)
    events = simulate_window(config, window_start, window_start + timedelta(minutes=30))
    assert (events["event_time"] < pd.Timestamp(window_start)).any()


def test_volume_scales_up_to_a_hundred_thousand_events_a_window():
    config = SimulationConfig(volume_scale=3000, dirty_share=0)
    events = simulate_window(config, START, START + timedelta(minutes=5))
    assert len(events) >= 100_000


def test_seeds_change_the_traffic():
    end = START + timedelta(hours=1)
    a = simulate_window(SimulationConfig(seed=1), START, end)
    b = simulate_window(SimulationConfig(seed=2), START, end)
    assert a["plate"].tolist() != b["plate"].tolist()


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate_window(SimulationConfig(), datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 5))
    with pytest.raises(ValueError, match="dirty_share"):
        SimulationConfig(dirty_share=2)
