"""Which five-minute windows a tick processes."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.windows import (
    LOCAL_TZ,
    WINDOW,
    Window,
    WindowError,
    default_start,
    due_windows,
    floor_window,
    parse_moment,
    windows_between,
)

NINE = datetime(2026, 11, 27, 9, 0, tzinfo=LOCAL_TZ)


def test_a_window_starts_on_a_five_minute_boundary_of_carpark_time():
    assert floor_window(datetime(2026, 11, 27, 1, 7, 59, tzinfo=UTC)) == datetime(
        2026, 11, 27, 9, 5, tzinfo=LOCAL_TZ
    )
    assert floor_window(NINE) == NINE
    assert floor_window(NINE - timedelta(microseconds=1)) == NINE - WINDOW


def test_only_complete_windows_are_due():
    due = due_windows(NINE, NINE + timedelta(minutes=14, seconds=59), limit=100)
    assert due == [Window(NINE, NINE + WINDOW), Window(NINE + WINDOW, NINE + 2 * WINDOW)]
    assert due_windows(NINE, NINE + timedelta(minutes=4), limit=100) == []
    assert due_windows(NINE, NINE - timedelta(hours=1), limit=100) == []  # a clock behind


def test_a_long_outage_is_caught_up_oldest_first_at_most_limit_windows_a_run():
    six_hours_later = NINE + timedelta(hours=6)
    assert len(due_windows(NINE, six_hours_later, limit=288)) == 72
    assert due_windows(NINE, six_hours_later, limit=1) == [Window(NINE, NINE + WINDOW)]
    first_run = due_windows(NINE, six_hours_later, limit=50)
    assert first_run == windows_between(NINE, NINE + 50 * WINDOW)
    assert due_windows(first_run[-1].end, six_hours_later, limit=50)[0].start == first_run[-1].end


@given(st.integers(0, 5000), st.integers(0, 5000))
def test_due_windows_are_consecutive_and_complete(offset_s, span_s):
    start = NINE + timedelta(minutes=5 * (offset_s // 300))
    now = start + timedelta(seconds=span_s)
    due = due_windows(start, now, limit=10_000)
    assert [w.start for w in due] == [start + i * WINDOW for i in range(len(due))]
    assert all(w.end <= now for w in due)
    assert not due or now - due[-1].end < WINDOW
    assert due or now - start < WINDOW


def test_ranges_must_be_on_window_boundaries():
    with pytest.raises(WindowError, match="not on a five-minute boundary"):
        windows_between(NINE + timedelta(minutes=1), NINE + timedelta(hours=1))


def test_a_fresh_install_starts_at_local_midnight():
    assert default_start(datetime(2026, 11, 26, 17, 30, tzinfo=UTC)) == datetime(
        2026, 11, 27, 0, 0, tzinfo=LOCAL_TZ
    )  # 01:30 on the 27th in Singapore


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27", datetime(2026, 11, 27, tzinfo=LOCAL_TZ)),
        ("2026-11-27T09:00", NINE),
        ("2026-11-27T01:00+00:00", NINE),
    ],
)
def test_times_without_an_offset_are_carpark_time(text, expected):
    assert parse_moment(text, "--from") == expected


def test_a_time_that_cannot_be_read_is_one_clear_error_naming_where():
    with pytest.raises(WindowError, match=r"^--from: not an ISO date or time"):
        parse_moment("next tuesday", "--from")
