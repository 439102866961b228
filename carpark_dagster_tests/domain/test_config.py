import math
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carpark_dagster.domain.config import (
    INT32_MAX,
    MAX_HOURS,
    MAX_SESSIONS_PER_DAY,
    ConfigError,
    load_config,
    parse_config,
)
from carpark_dagster.domain.tariff import (
    DEFAULT_TARIFF,
    MAX_BLOCK_MINUTES,
    MAX_CENTS,
    MAX_GRACE_MINUTES,
    MAX_STAY_NS,
    NS_PER_MINUTE,
    NightCap,
    Tariff,
)


def test_the_shipped_configuration_has_the_labs_six_locations_on_the_default_tariff():
    config = load_config()
    assert list(config.locations) == [f"Park{i}" for i in range(6)]
    assert all(loc.tariff == DEFAULT_TARIFF for loc in config.locations.values())
    assert all(loc.plate_rule == "any" for loc in config.locations.values())
    assert config.lateness == timedelta(hours=24)
    assert config.tariffs["hdb_eps"].grace_minutes == 15


def test_a_file_given_by_path_is_read(tmp_path):
    path = tmp_path / "carpark.toml"
    path.write_text(
        """
[defaults]
lateness_hours = 6
capacity = 50
sessions_per_day = 100

[tariffs.eps]
preset = "hdb_eps"

[locations.HDB1]
tariff = "eps"
plate_rule = "sg"
"""
    )
    config = load_config(path)
    location = config.locations["HDB1"]
    assert (location.capacity, location.sessions_per_day, location.plate_rule) == (50, 100, "sg")
    assert location.tariff.billing == "per_minute"
    assert config.lateness == timedelta(hours=6)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"locations": {}}, "no \\[locations"),
        ({"tables": {}}, "unknown section"),
        ({"defaults": {"colour": 1}}, "unknown key"),
        (
            {"locations": {"A": {"tariff": "nope", "capacity": 1, "sessions_per_day": 1}}},
            "tariff 'nope' is not defined under",
        ),
        (
            {
                "tariffs": {"default": {"billing": "per_block"}},
                "locations": {"A": {"plate_rule": "us", "capacity": 1, "sessions_per_day": 1}},
            },
            "plate_rule",
        ),
        (
            {
                "tariffs": {"default": {}},
                "locations": {"A": {"capacity": -1, "sessions_per_day": 1}},
            },
            "capacity",
        ),
        (
            {
                "tariffs": {"default": {"block_minutes": 0}},
                "locations": {"A": {"capacity": 1, "sessions_per_day": 1}},
            },
            "tariffs.default",
        ),
        ({"defaults": {"lateness_hours": 0}, "locations": {}}, "lateness_hours"),
    ],
)
def test_bad_configurations_say_where_they_are_wrong(raw, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(raw, source="site.toml")
    assert str(caught.value).startswith("site.toml: ")


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[locations\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)


# ---------------------------------------------------------------- every key, every bad value

KEYS = {
    # key: (where it goes, least, most, whole numbers only)
    "lateness_hours": ("defaults", 0, MAX_HOURS, False),  # more than 0
    "max_stay_hours": ("location", 1, MAX_HOURS, False),
    "capacity": ("location", 0, INT32_MAX, True),
    "sessions_per_day": ("location", 0, MAX_SESSIONS_PER_DAY, True),
    "block_minutes": ("tariff", 1, MAX_BLOCK_MINUTES, True),
    "rate_cents": ("tariff", 0, MAX_CENTS, True),
    "grace_minutes": ("tariff", 0, MAX_GRACE_MINUTES, True),
    "lost_exit_charge_cents": ("tariff", 0, MAX_CENTS, True),
    "daily_cap_cents": ("tariff", 0, MAX_CENTS, True),
}


def _with(key: str, value) -> dict:
    """A valid configuration with `value` at `key`."""
    raw = {
        "defaults": {},
        "tariffs": {"default": {}},
        "locations": {"A": {"capacity": 10, "sessions_per_day": 10}},
    }
    where = KEYS[key][0]
    target = {
        "defaults": raw["defaults"],
        "location": raw["locations"]["A"],
        "tariff": raw["tariffs"]["default"],
    }[where]
    target[key] = value
    return raw


def _in_range(key: str) -> st.SearchStrategy:
    _, least, most, whole = KEYS[key]
    integers = st.integers(least + (1 if key == "lateness_hours" else 0), most)
    if whole:
        return integers
    floats = st.floats(least, most, allow_nan=False, allow_infinity=False)
    return integers | floats.filter(lambda v: v > 0)


def _out_of_range(key: str) -> st.SearchStrategy:
    _, least, most, whole = KEYS[key]
    lower = least if key == "lateness_hours" else least - 1
    numbers = st.integers(max_value=lower) | st.integers(min_value=most + 1)
    floats = st.floats(allow_nan=True, allow_infinity=True).filter(
        lambda v: not (least < v <= most) or whole
    )
    others = st.sampled_from([True, False, "3", [1], {"a": 1}, math.nan, math.inf, -math.inf, 1e12])
    return numbers | floats | others


@pytest.mark.parametrize("key", sorted(KEYS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_value_in_range_is_taken(key, data):
    value = data.draw(_in_range(key))
    config = parse_config(_with(key, value))
    location = config.locations["A"]
    taken = {
        "lateness_hours": lambda: config.lateness == timedelta(hours=value),
        "max_stay_hours": lambda: location.max_stay == timedelta(hours=value),
        "capacity": lambda: location.capacity == value,
        "sessions_per_day": lambda: location.sessions_per_day == value,
    }.get(key, lambda: getattr(location.tariff, key) == value)
    assert taken()


@pytest.mark.parametrize("key", sorted(KEYS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_value_out_of_range_is_refused_naming_the_key_and_the_range(key, data):
    value = data.draw(_out_of_range(key))
    if key == "daily_cap_cents" and value is False:
        return  # false means "no daily cap"
    with pytest.raises(ConfigError) as caught:
        parse_config(_with(key, value), source="site.toml")
    [line] = caught.value.problems
    assert line.startswith("site.toml: ")
    assert key in line
    assert str(KEYS[key][2]) in line or "whole number" in line  # the range, or the kind


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (math.nan, "got nan"),
        (math.inf, "got an infinity"),
        (1e12, "got a number out of range"),
        (True, "got a boolean"),
        ("24", "got a string"),
    ],
)
def test_the_issues_lateness_values_are_refused_clearly(value, got):
    with pytest.raises(ConfigError) as caught:
        parse_config(_with("lateness_hours", value), source="site.toml")
    assert str(caught.value) == (
        f"site.toml: [defaults]: lateness_hours must be a number of hours more than 0 to 8784 "
        f"({got})"
    )


def test_a_capacity_beyond_the_integer_column_is_refused():
    with pytest.raises(ConfigError) as caught:
        parse_config(_with("capacity", 3_000_000_000), source="site.toml")
    assert str(caught.value) == (
        "site.toml: [locations.A]: capacity must be a whole number from 0 to 2147483647 "
        "(got a number out of range)"
    )


@pytest.mark.parametrize("location_id", ["", " A", "A ", "A\tB", "x" * 65])
def test_a_bad_location_id_is_refused(location_id):
    raw = {"tariffs": {"default": {}}, "locations": {location_id: {"capacity": 1}}}
    with pytest.raises(ConfigError, match=r"\[locations\]: a location id must be 1 to 64"):
        parse_config(raw)


def test_every_problem_is_listed_one_per_line():
    raw = {
        "defaults": {"lateness_hours": True, "capacity": -1, "sessions_per_day": 1},
        "tariffs": {"default": {"rate_cents": MAX_CENTS + 1}},
        "locations": {"A": {}, "B": {"tariff": "other"}, "": {}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(raw, source="s.toml")
    assert caught.value.problems == [
        f"s.toml: [tariffs.default]: tariff 'default': rate_cents must be a whole number from 0 "
        f"to {MAX_CENTS} (got a number out of range)",
        "s.toml: [defaults]: lateness_hours must be a number of hours more than 0 to 8784 "
        "(got a boolean)",
        "s.toml: [locations.A]: capacity must be a whole number from 0 to 2147483647 "
        "(got a number out of range)",
        "s.toml: [locations.B]: tariff 'other' is not defined under [tariffs]",
        "s.toml: [locations.B]: capacity must be a whole number from 0 to 2147483647 "
        "(got a number out of range)",
        "s.toml: [locations]: a location id must be 1 to 64 printable characters without "
        "spaces at either end",
    ]
    assert str(caught.value) == "\n".join(caught.value.problems)


@pytest.mark.parametrize(
    "tariff",
    [
        Tariff(billing="per_block", block_minutes=1, rate_cents=MAX_CENTS),
        Tariff(billing="per_minute", block_minutes=1, rate_cents=MAX_CENTS),
        Tariff(block_minutes=1, rate_cents=MAX_CENTS, night_cap=NightCap(cap_cents=MAX_CENTS)),
        Tariff(block_minutes=1, rate_cents=MAX_CENTS, daily_cap_cents=MAX_CENTS),
    ],
)
def test_the_largest_rate_prices_the_longest_stay_without_wrapping(tariff):
    entry = -(2**61)
    exit_ = entry + MAX_STAY_NS  # ~292 years later
    units = -(-MAX_STAY_NS // NS_PER_MINUTE)
    [charge] = tariff.price(np.array([entry]), np.array([exit_])).tolist()
    assert 0 < charge <= units * MAX_CENTS <= 2**63 - 1
    if tariff.night_cap is None and tariff.daily_cap_cents is None:
        assert charge == units * MAX_CENTS
    with pytest.raises(ValueError, match="beyond"):
        tariff.price(np.array([entry]), np.array([exit_ + 1]))
