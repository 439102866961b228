from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from carpark_dagster.domain.tariff import DEFAULT_TARIFF, NS_PER_SECOND, Tariff


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
    ],
)
def test_default_tariff_charges_per_started_half_hour(duration, cents):
    assert DEFAULT_TARIFF.charge_cents(duration) == cents
    ns = np.array([duration // timedelta(microseconds=1) * 1000], dtype=np.int64)
    assert DEFAULT_TARIFF.price(ns).tolist() == [cents]


def test_negative_durations_are_refused():
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_TARIFF.charge_cents(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="negative"):
        DEFAULT_TARIFF.price(np.array([-1], dtype=np.int64))


def test_tariff_rejects_nonsense_configuration():
    with pytest.raises(ValueError, match="block_minutes"):
        Tariff(block_minutes=0)
    with pytest.raises(ValueError, match="rate_cents"):
        Tariff(rate_cents=-1)


durations_s = st.integers(min_value=0, max_value=30 * 24 * 3600)
tariffs = st.builds(
    Tariff,
    block_minutes=st.integers(min_value=1, max_value=240),
    rate_cents=st.integers(min_value=0, max_value=10_000),
)


@given(tariffs, st.lists(durations_s, min_size=1, max_size=50))
def test_vectorised_pricing_agrees_with_the_reference(tariff, seconds):
    ns = np.array(seconds, dtype=np.int64) * NS_PER_SECOND
    expected = [tariff.charge_cents(timedelta(seconds=s)) for s in seconds]
    assert tariff.price(ns).tolist() == expected


@given(tariffs, durations_s, durations_s)
def test_charges_are_monotone_and_never_negative(tariff, a, b):
    short, long = sorted((a, b))
    low = tariff.charge_cents(timedelta(seconds=short))
    high = tariff.charge_cents(timedelta(seconds=long))
    assert 0 <= low <= high
