"""Retention's arithmetic: cutoffs and how far replays may still reach."""

from datetime import UTC, datetime, timedelta

import pytest

from carpark_dagster.lib.retention import cutoff, replay_horizon

NOW = datetime(2026, 12, 1, 3, 17, 30, tzinfo=UTC)


def test_cutoffs_are_days_before_now_and_zero_keeps_forever():
    assert cutoff(NOW, 90) == datetime(2026, 9, 2, 3, 17, 30, tzinfo=UTC)
    assert cutoff(NOW, 0) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        cutoff(datetime(2026, 12, 1), 1)


def test_replays_start_a_lateness_after_the_latest_cutoff_on_a_window():
    early, late = NOW - timedelta(days=400), NOW - timedelta(days=300)
    lateness = timedelta(hours=24)
    # 300 days + 1 day before NOW's 03:17:30, rounded up to the window at 03:20
    assert replay_horizon([early, late], lateness) == datetime(2026, 2, 5, 3, 20, tzinfo=UTC)
    on_a_boundary = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    assert replay_horizon([on_a_boundary], timedelta(hours=2)) == on_a_boundary + timedelta(hours=2)
    assert replay_horizon([], lateness) is None
