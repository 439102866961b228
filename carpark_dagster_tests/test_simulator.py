from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from carpark_dagster.domain.simulator import SimulationConfig, simulate_window

START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 in Singapore: a morning peak


def test_a_window_is_simulated_identically_every_time():
    config = SimulationConfig(seed=3)
    end = START + timedelta(minutes=5)
    first = simulate_window(config, START, end)
    second = simulate_window(SimulationConfig(seed=3), START, end)
    assert len(first) > 0
    assert first.to_csv(index=False) == second.to_csv(index=False)


def test_events_fall_inside_the_window_and_ids_are_unique():
    end = START + timedelta(minutes=5)
    events = simulate_window(SimulationConfig(), START, end)
    assert events["event_time"].min() >= pd.Timestamp(START)
    assert events["event_time"].max() < pd.Timestamp(end)
    assert events["event_id"].is_unique
    assert set(events["event_type"]) <= {"entry", "exit"}
    assert events["event_time"].dt.tz is not None


def test_consecutive_windows_partition_a_longer_one():
    config = SimulationConfig(seed=5)
    whole = simulate_window(config, START, START + timedelta(minutes=15))
    parts = pd.concat(
        [
            simulate_window(config, START + timedelta(minutes=m), START + timedelta(minutes=m + 5))
            for m in (0, 5, 10)
        ],
        ignore_index=True,
    )
    assert whole["event_id"].tolist() == parts["event_id"].tolist()


def test_every_exit_follows_its_entry():
    config = SimulationConfig(seed=11)
    day = simulate_window(config, START - timedelta(days=2), START + timedelta(days=1))
    entries = day[day.event_type == "entry"]
    exits = day[day.event_type == "exit"]
    entries = entries.set_index(entries.event_id.str.removesuffix("-in"))
    exits = exits.set_index(exits.event_id.str.removesuffix("-out"))
    both = entries.merge(exits, left_index=True, right_index=True, suffixes=("_in", "_out"))
    assert len(both) > 100
    assert (both.event_time_out >= both.event_time_in).all()
    assert (both.plate_in == both.plate_out).all()


def test_seeds_change_the_traffic():
    end = START + timedelta(hours=1)
    a = simulate_window(SimulationConfig(seed=1), START, end)
    b = simulate_window(SimulationConfig(seed=2), START, end)
    assert a["plate"].tolist() != b["plate"].tolist()


def test_naive_windows_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate_window(SimulationConfig(), datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 5))
