"""The earnings report's pure parts: periods, the figures put together, the comparison, the
formats."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.reporting import (
    ALL_LOCATIONS,
    BUCKET_SECONDS,
    EarningsReport,
    MoneyFigures,
    Period,
    ReportError,
    StayFigures,
    average_seconds,
    bucket_bounds,
    dollars,
    hourly_from_buckets,
    money_differences,
    period_named,
    period_report,
    periods_named,
    report_document,
    report_table,
    stay,
    stay_figures,
    summed_figures,
)

# 10:00 in Singapore on 27 November.
AS_OF = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


def test_today_starts_at_midnight_in_carpark_time():
    today = period_named("today", AS_OF)
    assert today.start == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    assert today.end == AS_OF
    # Just after midnight in Singapore is still the previous day in UTC.
    early = period_named("today", datetime(2026, 11, 26, 16, 5, tzinfo=UTC))
    assert early.start == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)


def test_spans_in_hours_and_days():
    assert period_named("24h", AS_OF).start == AS_OF - timedelta(hours=24)
    assert period_named("7d", AS_OF).start == AS_OF - timedelta(days=7)
    assert [p.name for p in periods_named(["today", "24h", "7d"], AS_OF)] == ["today", "24h", "7d"]


@pytest.mark.parametrize("name", ["", "week", "0h", "7", "-1d", "1.5h", "400d", "7D", "7d "])
def test_a_bad_period_is_refused_with_a_fixed_text(name):
    with pytest.raises(ReportError) as caught:
        period_named(name, AS_OF)
    assert str(caught.value) in {
        "a period is today, <N>h or <N>d (for example 24h or 7d)",
        "a period is at most 366 days",
    }


def test_periods_are_named_once_and_need_a_time_zone():
    with pytest.raises(ReportError, match="once"):
        periods_named(["7d", "7d"], AS_OF)
    with pytest.raises(ReportError, match="time zone"):
        period_named("today", datetime(2026, 11, 27, 10))


def _report():
    period = period_named("today", AS_OF)
    money = MoneyFigures(
        {
            "P1": (2, 300),
            "P2": (3, 450),
            "P3": (1, 151),
            "P4": (4, 600),
            "P5": (1, 60),
            "P6": (2, 121),
            "P7": (1, 150),
        },
        hourly_cents=tuple([0] * 8 + [1000, 832] + [0] * 14),
    )
    stays = StayFigures({"P1": (3600, 3000)}, overall=(4000, 3500))
    occupancy = {"P1": (10, 100), "P2": (0, 50), "P8": (5, 5)}
    return period_report(period, money, stays, occupancy)


def test_the_top_5_by_average_ties_broken_by_location():
    report = _report()
    # Averages: P3 151, P1 150, P2 150, P4 150, P7 150, P6 60.5, P5 60.
    assert [(f.location_id, f.rank) for f in report.top] == [
        ("P3", 1),
        ("P1", 2),
        ("P2", 3),
        ("P4", 4),
        ("P7", 5),
    ]
    by_id = {f.location_id: f for f in report.locations}
    assert by_id["P6"].average_charge_cents == Decimal("60.50")
    assert by_id["P6"].rank is None
    # A location with capacity but no session is shown, without an average.
    assert by_id["P8"].sessions == 0 and by_id["P8"].average_charge_cents is None
    assert (by_id["P8"].occupied, by_id["P8"].capacity) == (5, 5)


def test_totals_across_locations():
    totals = _report().totals
    assert totals.location_id == ALL_LOCATIONS
    assert (totals.sessions, totals.total_charge_cents) == (14, 1832)
    assert totals.average_charge_cents == Decimal("130.86")
    assert (totals.average_stay_seconds, totals.median_stay_seconds) == (4000, 3500)
    assert (totals.occupied, totals.capacity) == (15, 155)


def test_earnings_by_hour_of_day_in_carpark_time():
    buckets = [
        (datetime(2026, 11, 27, 1, 0, tzinfo=UTC), 100),  # 09:00 Singapore
        (datetime(2026, 11, 26, 1, 0, tzinfo=UTC), 50),  # 09:00 the day before
        (datetime(2026, 11, 26, 16, 0, tzinfo=UTC), 7),  # 00:00
    ]
    hours = hourly_from_buckets(buckets)
    assert len(hours) == 24 and hours[9] == 150 and hours[0] == 7 and sum(hours) == 157


def test_money_differences_name_the_location_and_hour_never_amounts():
    report = _report()
    same = MoneyFigures(
        {f.location_id: (f.sessions, f.total_charge_cents) for f in report.locations if f.sessions},
        report.hourly_cents,
    )
    assert money_differences(report, same) == []
    off_by_a_cent = dict(same.by_location, P2=(3, 451))
    hours = list(report.hourly_cents)
    hours[9] += 1
    assert money_differences(report, MoneyFigures(off_by_a_cent, tuple(hours))) == [
        "today: P2",
        "today: hour 09",
    ]
    # A location only one side knows.
    extra = dict(same.by_location, P9=(1, 60))
    assert money_differences(report, MoneyFigures(extra, report.hourly_cents)) == ["today: P9"]


def test_money_and_stays_for_people():
    assert dollars(123456) == "$1,234.56"
    assert dollars(Decimal("130.855")) == "$1.31"
    assert dollars(None) == ""
    assert stay(3000) == "0h 50m" and stay(7529) == "2h 05m" and stay(None) == ""


def test_the_terminal_table_and_json():
    period = _report()
    report = EarningsReport(AS_OF, AS_OF, "2026-11-27T02:00:00+00:00 ses-1", (period,))
    table = report_table(report, period).splitlines()
    assert table[0].startswith("earnings today: exits from 2026-11-27 00:00 to 2026-11-27 10:00")
    assert [line.split()[:2] for line in table[2:7]] == [
        ["1", "P3"],
        ["2", "P1"],
        ["3", "P2"],
        ["4", "P4"],
        ["5", "P7"],
    ]
    assert table[-2].split()[:4] == ["all", "locations", "14", "$18.32"]
    assert table[-1] == "earnings by hour (exit, carpark time): 08h $10.00, 09h $8.32"
    document = report_document(report, period)
    assert document["top_5"] == ["P3", "P1", "P2", "P4", "P7"]
    assert document["totals"]["total_charge_cents"] == 1832
    assert document["totals"]["average_charge_cents"] == "130.86"
    assert len(document["locations"]) == 8


# --------------------------------------------------------------------------- the rollup's side


@given(
    start=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=8)),
)
def test_bucket_bounds_cover_the_whole_buckets_inside_the_period(start, length):
    period = Period("p", start, start + length)
    first, end = bucket_bounds(period)
    assert period.start <= first <= end <= period.end
    if first == end:
        # No whole bucket fits: the sessions are all read one by one.
        assert first == period.start
        assert length < timedelta(minutes=10)
    else:
        assert first.timestamp() % BUCKET_SECONDS == 0 and end.timestamp() % BUCKET_SECONDS == 0
        # What is left at either edge is less than a bucket.
        assert first - period.start < timedelta(seconds=BUCKET_SECONDS)
        assert period.end - end < timedelta(seconds=BUCKET_SECONDS)


def test_a_tick_aligned_period_is_all_buckets():
    as_of = datetime(2026, 11, 27, 2, 5, tzinfo=UTC)
    for name in ("today", "24h", "7d"):
        period = period_named(name, as_of)
        assert bucket_bounds(period) == (period.start, period.end)


def test_summed_figures_add_buckets_and_subtract_sessions():
    rows = [
        ("P1", 9, 10, 1500, 10, 36000),  # a bucket of the rollup
        ("P1", 10, 5, 700, 4, 14400),  # one old session without a duration
        ("P2", 9, 2, 300, 2, 5000),
        ("P1", 10, -1, -150, -1, -3600),  # a session past the watermark, taken out
        ("P2", 9, -2, -300, -2, -5000),  # every P2 session a dead letter: P2 is left out
        ("P3", 23, 1, 75, 1, 1801),  # a session of an edge
    ]
    money, stays = summed_figures(rows)
    assert money.by_location == {"P1": (14, 2050), "P3": (1, 75)}
    assert money.hourly_cents[9] == 1500 and money.hourly_cents[10] == 550
    assert money.hourly_cents[23] == 75 and sum(money.hourly_cents) == 2125
    assert stays == {"P1": (13, 46800), "P3": (1, 1801)}
    figures = stay_figures(stays, {"P1": 3540}, overall_median=3480)
    assert figures.by_location == {"P1": (3600, 3540), "P3": (1801, None)}
    assert figures.overall == (3472, 3480)  # 48,601 / 14 = 3,471.5, rounded up


def test_average_stays_round_halves_up_like_postgresql():
    assert average_seconds(2, 3) == 2  # 1.5
    assert average_seconds(2, 5) == 3  # 2.5
    assert average_seconds(3, 10) == 3
    assert average_seconds(0, 0) is None
    assert stay_figures({}, {}, None).overall is None
