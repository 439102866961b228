import re
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carpark_dagster.domain.tariff import (
    DEFAULT_TARIFF,
    NS_PER_SECOND,
    NightCap,
    Tariff,
    hdb_eps,
    tariff_from_mapping,
)

SG = ZoneInfo("Asia/Singapore")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_NS = 86_400 * NS_PER_SECOND
MINUTE = timedelta(minutes=1)


def ns(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def charge(tariff: Tariff, entry: datetime, exit: datetime) -> int:
    """The scalar reference's charge, after checking that the vectorised engine agrees."""
    scalar = tariff.charge_cents(entry, exit)
    vector = tariff.price(np.array([ns(entry)], dtype=np.int64), np.array([ns(exit)]))
    assert vector.dtype == np.int64
    assert vector.tolist() == [scalar]
    return scalar


def sg(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A local time in Singapore, in March 2026."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=SG)


# -- the default tariff: 60 cents per started half hour ----------------------------------------

T0 = sg(2, 9)


@pytest.mark.parametrize(
    ("duration", "cents"),
    [
        (timedelta(0), 0),
        (timedelta(microseconds=1), 60),
        (timedelta(minutes=29, seconds=59), 60),
        (timedelta(minutes=30), 60),
        (timedelta(minutes=30, seconds=1), 120),
        (timedelta(hours=1), 120),
        (timedelta(hours=1, seconds=1), 180),
        (timedelta(days=2, minutes=1), (2 * 48 + 1) * 60),
        (timedelta(days=30), 30 * 48 * 60),
    ],
)
def test_default_tariff_charges_per_started_half_hour(duration, cents):
    assert charge(DEFAULT_TARIFF, T0, T0 + duration) == cents


def test_default_tariff_is_the_labs_rule():
    assert (
        Tariff(name="default", billing="per_block", block_minutes=30, rate_cents=60)
        == DEFAULT_TARIFF
    )
    assert DEFAULT_TARIFF.grace_minutes == 0
    assert DEFAULT_TARIFF.night_cap is None and DEFAULT_TARIFF.daily_cap_cents is None


def test_one_nanosecond_is_a_started_block():
    entry = pd.Timestamp("2026-03-02T01:00:00", tz="UTC")
    exit = entry + pd.Timedelta(1, "ns")
    assert DEFAULT_TARIFF.charge_cents(entry, exit) == 60
    assert DEFAULT_TARIFF.price(np.array([entry.value]), np.array([exit.value])).tolist() == [60]


def test_price_keeps_the_shape_and_accepts_datetime64():
    entry = np.full((2, 3), ns(T0), dtype=np.int64)
    exit = entry + np.arange(6, dtype=np.int64).reshape(2, 3) * 20 * 60 * NS_PER_SECOND
    assert DEFAULT_TARIFF.price(entry, exit).tolist() == [[0, 60, 120], [120, 180, 240]]
    as_datetimes = DEFAULT_TARIFF.price(entry.view("datetime64[ns]"), exit.view("datetime64[ns]"))
    assert as_datetimes.tolist() == [[0, 60, 120], [120, 180, 240]]
    empty = DEFAULT_TARIFF.price(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert empty.dtype == np.int64 and empty.size == 0


def test_negative_stays_are_refused():
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_TARIFF.charge_cents(T0, T0 - timedelta(microseconds=1))
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_TARIFF.price(np.array([10, 10]), np.array([10, 9]))
    with pytest.raises(ValueError, match="negative"):
        hdb_eps().price(np.array([ns(T0)]), np.array([ns(T0) - 1]))


def test_naive_datetimes_and_mismatched_arrays_are_refused():
    with pytest.raises(ValueError, match="naive"):
        DEFAULT_TARIFF.charge_cents(datetime(2026, 3, 2, 9), T0)
    with pytest.raises(ValueError, match="naive"):
        DEFAULT_TARIFF.charge_cents(T0, datetime(2026, 3, 2, 10))
    with pytest.raises(ValueError, match="shape"):
        DEFAULT_TARIFF.price(np.array([1, 2]), np.array([3]))
    with pytest.raises(ValueError, match="nanoseconds"):
        DEFAULT_TARIFF.price(np.array([1.0]), np.array([2.0]))
    with pytest.raises(ValueError, match="NaT"):
        DEFAULT_TARIFF.price(
            np.array(["NaT"], dtype="datetime64[ns]"), np.array([0], dtype="datetime64[ns]")
        )


def test_the_entry_and_exit_may_be_given_in_any_timezone():
    entry, exit = sg(2, 22), sg(3, 8)
    expected = charge(hdb_eps(), entry, exit)
    for offset in (-11, 0, 5.75, 13):
        zone = timezone(timedelta(hours=offset))
        assert hdb_eps().charge_cents(entry.astimezone(zone), exit.astimezone(zone)) == expected


# -- hdb_eps: 2 cents per started minute, 15 free minutes, nights capped at $5 -----------------

HDB = hdb_eps()


def test_hdb_eps_preset():
    assert (
        Tariff(
            name="hdb_eps",
            billing="per_minute",
            block_minutes=30,
            rate_cents=60,
            grace_minutes=15,
            night_cap=NightCap(time(22, 30), time(7, 0), 500),
            timezone="Asia/Singapore",
        )
        == HDB
    )
    assert HDB.unit_cents == 2
    assert hdb_eps(night_cap_cents=None).night_cap is None
    assert hdb_eps(grace_minutes=0, name="x").grace_minutes == 0


@pytest.mark.parametrize(
    ("entry", "exit", "cents"),
    [
        (sg(2, 9), sg(2, 9), 0),
        (sg(2, 9), sg(2, 9, 15), 0),  # the grace, exactly
        (sg(2, 9), sg(2, 9, 15, 1), 32),  # past the grace: all 16 started minutes
        (sg(2, 9), sg(2, 10), 120),
        # 22:00-22:30 is day time (60), the night 22:30-07:00 (1020) is capped at 500,
        # 07:00-08:00 is day time again (120).
        (sg(2, 22), sg(3, 8), 60 + 500 + 120),
        # Two nights, each capped on its own: 60 + 500 + 07:00-22:30 (1860) + 500 + 120.
        (sg(2, 22), sg(4, 8), 60 + 500 + 1860 + 500 + 120),
        # A night cap that is not reached: 23:00-01:00 is 120 minutes.
        (sg(2, 23), sg(3, 1), 240),
        # Entering in the middle of a night: 02:00-07:00 (600, capped) then 07:00-09:00.
        (sg(3, 2), sg(3, 9), 500 + 240),
        # A stay inside the night that ends at 07:00 sharp: its last minute starts at 06:59.
        (sg(2, 22, 30), sg(3, 7), 500),
        # The first minute starting at 07:00 is day time.
        (sg(2, 22, 30), sg(3, 7, 0, 1), 502),
    ],
)
def test_hdb_eps_charges(entry, exit, cents):
    assert charge(HDB, entry, exit) == cents


def test_a_unit_belongs_to_the_night_in_which_it_starts():
    tariff = Tariff(name="blocks", night_cap=NightCap(cap_cents=100))
    # Blocks start at 22:15 (day: 60), 22:45 and 23:15 (night: 120, capped at 100).
    assert charge(tariff, sg(2, 22, 15), sg(2, 23, 45)) == 60 + 100
    # Blocks start at 06:15 (night: 60) and 06:45 (night: 60, capped to 100 together), 07:15.
    assert charge(tariff, sg(3, 6, 15), sg(3, 7, 45)) == 100 + 60


def test_a_unit_starting_exactly_when_the_night_opens_is_in_the_night():
    free_nights = hdb_eps(grace_minutes=0, night_cap_cents=0)
    # 31 started minutes from 22:00; the last one starts at 22:30:00 sharp and is free.
    assert charge(free_nights, sg(2, 22), sg(2, 22, 30, 1)) == 60
    # ... and one starting at 07:00:00 sharp is day time again.
    assert charge(free_nights, sg(3, 6, 50), sg(3, 7, 0, 1)) == 2


def test_night_windows_never_overlap_across_a_clock_change():
    # New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC). The night of the 7th
    # closes at 02:30, a local time that does not exist: read with the offset before the
    # change (fold=0) it is 07:30 UTC, after the next night opens (03:10 EDT, 07:10 UTC).
    # That window ends where the next one opens, so each minute belongs to one night only.
    tariff = Tariff(
        name="ny",
        billing="per_minute",
        block_minutes=30,
        rate_cents=30,
        night_cap=NightCap(time(3, 10), time(2, 30), 5),
        timezone="America/New_York",
    )
    entry = datetime(2026, 3, 8, 6, 50, tzinfo=UTC)
    # 06:50-07:10 UTC (20 minutes) in one night, 07:10-07:20 in the next: 5 + 5.
    assert charge(tariff, entry, entry + timedelta(minutes=30)) == 10


def test_a_night_window_within_one_day():
    tariff = Tariff(name="early", night_cap=NightCap(time(0, 0), time(6, 0), 200))
    # 22:00-00:00 is day time (240); 00:00-06:00 (720) capped at 200; 06:00-07:00 (120).
    assert charge(tariff, sg(2, 22), sg(3, 7)) == 240 + 200 + 120


def test_zero_cap_makes_nights_free():
    tariff = hdb_eps(night_cap_cents=0)
    assert charge(tariff, sg(2, 22, 30), sg(3, 7)) == 0
    assert charge(tariff, sg(2, 22), sg(3, 8)) == 60 + 120


# -- daily cap -----------------------------------------------------------------------------------


def test_daily_cap_applies_to_each_24_hours_from_the_entry():
    tariff = Tariff(name="capped", daily_cap_cents=1000)
    # 50 hours from 09:13: two full periods (2880 each, capped) and 2 hours (240).
    entry = sg(2, 9, 13)
    assert charge(tariff, entry, entry + timedelta(hours=50)) == 1000 + 1000 + 240
    assert charge(tariff, entry, entry + timedelta(hours=24)) == 1000
    # 24 hours and 1 second: a unit starts in the second period.
    assert charge(tariff, entry, entry + timedelta(hours=24, seconds=1)) == 1000 + 60
    assert charge(tariff, entry, entry + timedelta(hours=8)) == 960


def test_daily_cap_after_night_cap_with_a_night_split_between_two_periods():
    tariff = Tariff(
        name="both",
        block_minutes=60,
        rate_cents=100,
        night_cap=NightCap(time(22, 0), time(6, 0), 300),
        daily_cap_cents=2000,
    )
    # Period 1 (00:00-24:00 on the 2nd): night of the 1st 00-06 (600 -> 300), day 06-22
    # (1600), the first two hours of the night of the 2nd (200): 2100, capped at 2000.
    # Period 2: the rest of that night pays what is left of its cap (100) and nothing more,
    # then 06:00-08:00 (200).
    assert charge(tariff, sg(2, 0), sg(3, 8)) == 2000 + 100 + 200


def test_a_period_below_the_daily_cap_ends_24_hours_after_the_entry():
    tariff = Tariff(
        name="both",
        block_minutes=60,
        rate_cents=100,
        night_cap=NightCap(time(22, 0), time(6, 0), 300),
        daily_cap_cents=2000,
    )
    # Period 1, 08:00-08:00: 08-22 (1400), the night (300), 06-08 (200): 1900, under the cap.
    # Period 2: the block starting at 08:00 (100).
    assert charge(tariff, sg(2, 8), sg(3, 9)) == 1900 + 100


def test_the_mall_tariff_of_the_configuration_example():
    mall = Tariff(
        name="mall",
        billing="per_minute",
        block_minutes=30,
        rate_cents=90,
        night_cap=NightCap(),
        daily_cap_cents=2000,
    )
    # 3 cents a minute: 22:00-22:30 (90), night (1530 -> 500), 07:00-08:00 (180).
    assert charge(mall, sg(2, 22), sg(3, 8)) == 770
    assert charge(mall, sg(2, 9), sg(3, 9)) == 2000
    assert charge(mall, sg(2, 9), sg(4, 9)) == 4000


# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"block_minutes": 0}, "block_minutes"),
        ({"block_minutes": 2.5}, "block_minutes"),
        ({"rate_cents": -1}, "rate_cents"),
        ({"rate_cents": True}, "rate_cents"),
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"billing": "per_hour"}, "billing"),
        ({"billing": "per_minute", "rate_cents": 61}, "rate_cents"),
        ({"daily_cap_cents": -5}, "daily_cap_cents"),
        ({"night_cap": NightCap(cap_cents=-1)}, "cap_cents"),
        ({"night_cap": NightCap(time(7, 0), time(7, 0))}, "night_cap"),
        ({"night_cap": NightCap(start="22:30")}, "night_cap.start"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
    ],
)
def test_tariff_rejects_nonsense_configuration(settings, key):
    with pytest.raises(ValueError, match=rf"tariff 'acme'.*{re.escape(key)}"):
        Tariff(name="acme", **settings)


def test_per_minute_needs_whole_cents_per_minute():
    assert Tariff(name="m", billing="per_minute", block_minutes=30, rate_cents=90).unit_cents == 3
    with pytest.raises(ValueError, match="multiple"):
        Tariff(name="m", billing="per_minute", block_minutes=30, rate_cents=100)


# -- configuration tables ------------------------------------------------------------------------

CONFIG = tomllib.loads(
    """
[tariffs.default]
billing = "per_block"
block_minutes = 30
rate_cents = 60

[tariffs.hdb_eps]
preset = "hdb_eps"
grace_minutes = 10

[tariffs.mall]
billing = "per_minute"
block_minutes = 30
rate_cents = 90
night_cap = { start = "22:30", end = "07:00", cap_cents = 500 }
daily_cap_cents = 2000

[tariffs.late]
preset = "hdb_eps"
night_cap = { start = 23:00:00, cap_cents = 400 }
timezone = "Asia/Kolkata"

[tariffs.plain]
preset = "hdb_eps"
night_cap = false
daily_cap_cents = false
"""
)["tariffs"]


def test_tariffs_from_configuration_tables():
    tariffs = {name: tariff_from_mapping(name, spec) for name, spec in CONFIG.items()}
    assert tariffs["default"] == DEFAULT_TARIFF
    assert tariffs["hdb_eps"] == hdb_eps(grace_minutes=10)
    assert tariffs["mall"] == Tariff(
        name="mall",
        billing="per_minute",
        block_minutes=30,
        rate_cents=90,
        night_cap=NightCap(time(22, 30), time(7, 0), 500),
        daily_cap_cents=2000,
    )
    assert tariffs["late"] == replace(
        hdb_eps(name="late"),
        night_cap=NightCap(time(23, 0), time(7, 0), 400),
        timezone="Asia/Kolkata",
    )
    assert tariffs["plain"] == hdb_eps(night_cap_cents=None, name="plain")
    assert tariff_from_mapping("empty", {}) == replace(DEFAULT_TARIFF, name="empty")
    assert tariff_from_mapping("d", {"preset": "default", "rate_cents": 80}).rate_cents == 80


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"rate": 60}, "rate"),
        ({"name": "other"}, "name"),
        ({"preset": "hdb"}, "preset"),
        ({"preset": 1}, "preset"),
        ({"rate_cents": "60"}, "rate_cents"),
        ({"rate_cents": 0.6}, "rate_cents"),
        ({"block_minutes": True}, "block_minutes"),
        ({"block_minutes": 0}, "block_minutes"),
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"billing": 1}, "billing"),
        ({"billing": "hourly"}, "billing"),
        ({"billing": "per_minute", "rate_cents": 50}, "rate_cents"),
        ({"timezone": 8}, "timezone"),
        ({"timezone": "Singapore/Central"}, "timezone"),
        ({"daily_cap_cents": True}, "daily_cap_cents"),
        ({"daily_cap_cents": "2000"}, "daily_cap_cents"),
        ({"daily_cap_cents": -1}, "daily_cap_cents"),
        ({"night_cap": True}, "night_cap"),
        ({"night_cap": "22:30-07:00"}, "night_cap"),
        ({"night_cap": {"start": "22:30", "stop": "07:00"}}, "night_cap.stop"),
        ({"night_cap": {"start": "24:00"}}, "night_cap.start"),
        ({"night_cap": {"start": "22:60"}}, "night_cap.start"),
        ({"night_cap": {"end": "7am"}}, "night_cap.end"),
        ({"night_cap": {"end": "07:00:00"}}, "night_cap.end"),
        ({"night_cap": {"end": 7}}, "night_cap.end"),
        ({"night_cap": {"cap_cents": "500"}}, "night_cap.cap_cents"),
        ({"night_cap": {"cap_cents": -1}}, "cap_cents"),
        ({"night_cap": {"start": "07:00"}}, "night_cap"),  # start == the default end
    ],
)
def test_bad_configuration_tables_name_the_tariff_and_the_key(spec, key):
    with pytest.raises(ValueError, match=rf"tariff 'acme'.*{re.escape(key)}"):
        tariff_from_mapping("acme", spec)


def test_a_configuration_entry_must_be_a_table():
    with pytest.raises(ValueError, match="tariff 'acme'"):
        tariff_from_mapping("acme", ["rate_cents", 60])


# -- properties ----------------------------------------------------------------------------------

# Zones whose offset has not changed since 2000: local time of day is plain arithmetic there,
# which the brute-force oracle below relies on.
FIXED_ZONES = [
    "Asia/Singapore",
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Etc/GMT+5",
    "Etc/GMT-14",
]
DST_ZONES = ["Europe/London", "America/New_York", "Australia/Lord_Howe", "America/St_Johns"]

clock_times = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@st.composite
def night_caps(draw):
    start = draw(clock_times)
    end = draw(clock_times.filter(lambda t: t != start))
    return NightCap(start, end, draw(st.integers(0, 3000)))


@st.composite
def tariffs(draw, zones=FIXED_ZONES, night=None, daily=None):
    billing = draw(st.sampled_from(["per_block", "per_minute"]))
    block_minutes = draw(st.integers(1, 240))
    if billing == "per_minute":
        rate_cents = block_minutes * draw(st.integers(0, 20))
    else:
        rate_cents = draw(st.integers(0, 2000))
    night_cap = draw(_present_if(night, night_caps()))
    daily_cap = draw(_present_if(daily, st.integers(0, 10_000)))
    return Tariff(
        name="random",
        billing=billing,
        block_minutes=block_minutes,
        rate_cents=rate_cents,
        grace_minutes=draw(st.integers(0, 30)),
        night_cap=night_cap,
        daily_cap_cents=daily_cap,
        timezone=draw(st.sampled_from(zones)),
    )


def _present_if(wanted: bool | None, strategy):
    """`strategy` when wanted, None when not, either when `wanted` is None."""
    if wanted is None:
        return st.none() | strategy
    return strategy if wanted else st.none()


entries = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
durations = st.one_of(
    st.integers(0, 3 * 3600 * 10**6),  # up to three hours, to the microsecond
    st.integers(0, 3 * 86_400).map(lambda s: s * 10**6),  # up to three days, in seconds
    st.sampled_from([0, 1, 15 * 60 * 10**6, 30 * 60 * 10**6, 86_400 * 10**6]),
).map(lambda micros: timedelta(microseconds=micros))


def brute_force(tariff: Tariff, entry: datetime, exit: datetime) -> int:
    """Unit by unit, straight from the rules (zones with a fixed offset only)."""
    duration_ns = ns(exit) - ns(entry)
    if duration_ns <= tariff.grace_minutes * 60 * NS_PER_SECOND:
        return 0
    unit = (tariff.block_minutes if tariff.billing == "per_block" else 1) * 60 * NS_PER_SECOND
    price = tariff.rate_cents if tariff.billing == "per_block" else tariff.unit_cents
    offset = ZoneInfo(tariff.timezone).utcoffset(entry) // timedelta(microseconds=1) * 1000
    night_spent: dict[int, int] = {}
    periods: dict[int, int] = {}
    k = 0
    while k * unit < duration_ns:
        start = ns(entry) + k * unit
        cost = price
        if tariff.night_cap is not None:
            local_day, of_day = divmod(start + offset, DAY_NS)
            opens = _of_day(tariff.night_cap.start)
            closes = _of_day(tariff.night_cap.end)
            night = None
            if opens < closes:
                night = local_day if opens <= of_day < closes else None
            elif of_day >= opens:
                night = local_day
            elif of_day < closes:
                night = local_day - 1
            if night is not None:
                spent = night_spent.get(night, 0)
                cost = min(price, tariff.night_cap.cap_cents - spent)
                night_spent[night] = spent + cost
        period = k * unit // DAY_NS
        periods[period] = periods.get(period, 0) + cost
        k += 1
    if tariff.daily_cap_cents is None:
        return sum(periods.values())
    return sum(min(total, tariff.daily_cap_cents) for total in periods.values())


def _of_day(moment: time) -> int:
    return (moment.hour * 3600 + moment.minute * 60 + moment.second) * NS_PER_SECOND


@given(tariffs(), entries, durations)
def test_both_engines_follow_the_rules_unit_by_unit(tariff, entry, duration):
    assert charge(tariff, entry, entry + duration) == brute_force(tariff, entry, entry + duration)


@given(
    tariffs(zones=FIXED_ZONES + DST_ZONES),
    st.lists(st.tuples(entries, durations), min_size=1, max_size=40),
    st.integers(-12 * 60, 14 * 60),
)
def test_vectorised_pricing_agrees_with_the_reference(tariff, stays, offset_minutes):
    zone = timezone(timedelta(minutes=offset_minutes))
    expected = [
        tariff.charge_cents(entry.astimezone(zone), (entry + duration).astimezone(zone))
        for entry, duration in stays
    ]
    entry_ns = np.array([ns(entry) for entry, _ in stays], dtype=np.int64)
    exit_ns = np.array([ns(entry + duration) for entry, duration in stays], dtype=np.int64)
    assert tariff.price(entry_ns, exit_ns).tolist() == expected


@given(tariffs(zones=FIXED_ZONES + DST_ZONES), entries, durations, durations)
def test_charges_are_monotone_in_the_exit_and_never_negative(tariff, entry, a, b):
    short, long = sorted((a, b))
    low = charge(tariff, entry, entry + short)
    high = charge(tariff, entry, entry + long)
    assert 0 <= low <= high


@given(tariffs(), entries, durations)
def test_grace_is_free_and_then_the_whole_stay_is_charged(tariff, entry, duration):
    cost = charge(tariff, entry, entry + duration)
    if duration <= timedelta(minutes=tariff.grace_minutes):
        assert cost == 0
    else:
        assert cost == charge(replace(tariff, grace_minutes=0), entry, entry + duration)


@given(
    tariffs(night=True),
    st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2039, 1, 1).date()),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_a_stay_within_one_night_costs_at_most_the_night_cap(tariff, day, a, b):
    cap = tariff.night_cap
    zone = ZoneInfo(tariff.timezone)
    opens = datetime.combine(day, cap.start, tzinfo=zone).astimezone(UTC)
    closes_on = day + timedelta(days=1) if cap.end <= cap.start else day
    closes = datetime.combine(closes_on, cap.end, tzinfo=zone).astimezone(UTC)
    span = closes - opens
    entry = opens + span * min(a, b)
    exit = opens + span * max(a, b)
    assert charge(tariff, entry, exit) <= cap.cap_cents


@given(tariffs(zones=FIXED_ZONES + DST_ZONES, daily=True), entries, durations)
def test_a_stay_of_d_days_costs_at_most_ceil_d_daily_caps(tariff, entry, duration):
    days = -(-duration // timedelta(days=1))
    assert charge(tariff, entry, entry + duration) <= days * tariff.daily_cap_cents


@given(tariffs(night=False, daily=False), entries, durations)
def test_without_caps_every_started_unit_is_charged(tariff, entry, duration):
    unit = timedelta(minutes=tariff.block_minutes if tariff.billing == "per_block" else 1)
    expected = 0
    if duration > timedelta(minutes=tariff.grace_minutes):
        expected = -(-duration // unit) * tariff.unit_cents
    assert charge(tariff, entry, entry + duration) == expected


@given(
    st.lists(st.integers(20 * 3600, 28 * 3600), min_size=2, max_size=40),
    st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=1, max_size=50),
    st.integers(3600, 23 * 3600),
)
# Nights drifting later (the first guess too far) and earlier (not far enough) every day.
@example(gaps=[28 * 3600] * 12, where=[0.5, 0.7, 0.95], length=8 * 3600)
@example(gaps=[20 * 3600] * 12, where=[0.5, 0.7, 0.95], length=8 * 3600)
def test_the_night_lookup_agrees_with_a_binary_search(gaps, where, length):
    """Nights open about a day apart (clock changes move them; here by up to four hours
    either way, so that the first guess is off in both directions) and never overlap; every
    instant between the first night's opening and the last one's closing finds the first night
    closing after it, as a binary search would."""
    from carpark_dagster.domain.tariff import _first_closing_after

    second = 1_000_000_000
    opens = np.cumsum([0, *gaps], dtype=np.int64) * second
    closes = np.minimum(opens + length * second, np.append(opens[1:], np.iinfo(np.int64).max))
    first, last = int(opens[0]), int(closes[-1]) - 1
    instants = np.array([first + int(w * (last - first)) for w in where], dtype=np.int64)
    expected = np.searchsorted(closes, instants, side="right")
    assert _first_closing_after(opens, closes, instants.copy()).tolist() == expected.tolist()


long_stays = st.integers(0, 5 * 86_400).map(lambda s: timedelta(seconds=s))


@settings(max_examples=300)
@given(
    tariffs(zones=FIXED_ZONES + DST_ZONES, night=True, daily=True),
    st.lists(st.tuples(entries, long_stays), min_size=1, max_size=30),
)
def test_vectorised_pricing_with_both_caps_agrees_with_the_reference(tariff, stays):
    """Night cap and daily cap together, over stays of up to five days: the vectorised path
    that splits periods and nights (`_daily_capped`) against the scalar reference."""
    expected = [tariff.charge_cents(entry, entry + duration) for entry, duration in stays]
    entry_ns = np.array([ns(entry) for entry, _ in stays], dtype=np.int64)
    exit_ns = np.array([ns(entry + duration) for entry, duration in stays], dtype=np.int64)
    assert tariff.price(entry_ns, exit_ns).tolist() == expected


SGT = ZoneInfo("Asia/Singapore")
MICRO = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("tariff", "entry", "stay", "cents"),
    [
        # The default tariff's block edge, across midnight: exactly 30:00 is one block.
        (DEFAULT_TARIFF, datetime(2026, 11, 27, 23, 45, tzinfo=SGT), timedelta(minutes=30), 60),
        (
            DEFAULT_TARIFF,
            datetime(2026, 11, 27, 23, 45, tzinfo=SGT),
            timedelta(minutes=30) + MICRO,
            120,
        ),
        # hdb_eps' grace edge, across midnight and inside the night window: 15:00 is free,
        # a microsecond more pays all 16 started minutes.
        (hdb_eps(), datetime(2026, 11, 27, 23, 50, tzinfo=SGT), timedelta(minutes=15), 0),
        (hdb_eps(), datetime(2026, 11, 27, 23, 50, tzinfo=SGT), timedelta(minutes=15) + MICRO, 32),
        # hdb_eps' night edges: 22:00-22:30 outside (60), 22:30-07:00 capped (500), 07:00-07:30
        # outside (60).
        (hdb_eps(), datetime(2026, 11, 27, 22, 0, tzinfo=SGT), timedelta(hours=9, minutes=30), 620),
        # A minute starting exactly at 07:00 is outside the night; one starting at 06:59 inside.
        (hdb_eps(), datetime(2026, 11, 27, 22, 0, tzinfo=SGT), timedelta(hours=9, minutes=1), 562),
        (hdb_eps(), datetime(2026, 11, 27, 22, 0, tzinfo=SGT), timedelta(hours=9), 560),
    ],
)
def test_block_grace_and_night_edges_across_midnight(tariff, entry, stay, cents):
    assert tariff.charge_cents(entry, entry + stay) == cents
    assert tariff.price(np.array([ns(entry)]), np.array([ns(entry + stay)])).tolist() == [cents]
