"""Parking tariffs: money is integer cents, always, and every charge is exact.

A `Tariff` prices a stay from its entry instant to its exit instant. Two implementations share
one definition: `Tariff.charge_cents` (the scalar reference, Python integers, tz-aware
datetimes) and `Tariff.price` (numpy, int64 UTC epoch nanoseconds, no Python loop per stay).
They agree exactly; the property tests hold them to it.

The rules, in the order they apply:

1. **Refusals.** A stay whose exit is earlier than its entry raises `ValueError` (in `price`, if
   any stay is negative). Naive datetimes raise `ValueError` in `charge_cents`.
2. **Grace.** A stay lasting at most `grace_minutes` costs 0. Beyond the grace the *whole*
   stay is charged, grace minutes included. A 0-second stay always costs 0.
3. **Units.** The stay is cut into consecutive units counted from the entry instant: blocks of
   `block_minutes` (`per_block`) or minutes (`per_minute`). The last unit may be partial; a
   started unit counts in full, so a stay of duration `d` has `ceil(d / unit)` units, unit `k`
   starting at `entry + k * unit`. A `per_block` unit costs `rate_cents`; a `per_minute` unit
   costs `rate_cents // block_minutes`, and a `per_minute` tariff whose `rate_cents` is not a
   multiple of `block_minutes` is refused, so that no fraction of a cent ever appears.
   The default tariff is thus `ceil(d / 30 min) * 60`: 0 s costs 0, 1 µs costs 60, exactly
   30:00 costs 60, 30:01 costs 120; multi-day stays pay for their full duration.
4. **Night cap** (optional). Night `D` is the window from `start` on local date `D` to `end`
   on date `D` (or on `D + 1` when `end <= start`: a window crossing midnight belongs to the
   night that opened it), in the tariff's `timezone`. A unit belongs to a night when the
   instant the unit *starts* lies in that window, `[start, end)`. The units of one night cost
   together at most `cap_cents`; each night is capped separately; units outside every night
   window are charged in full. Within a night the units are charged in order until the cap is
   reached (the unit that reaches it may pay part of its price, the later ones nothing); this
   only matters when a night is shared between two daily periods (rule 5).
5. **Daily cap** (optional). After the night cap, the units are grouped into consecutive
   24-hour periods counted from the entry instant (a unit belongs to the period in which it
   starts), and each period's total is capped at `daily_cap_cents`. A stay of duration `d`
   therefore costs at most `ceil(d / 24 h) * daily_cap_cents`.

Local times are resolved with `zoneinfo`, the usual Python way: a local time that occurs twice
(clocks going back) means its first occurrence, and one that does not exist (clocks going
forward) is read with the offset in force before the change (PEP 495, `fold=0`). Should a
clock change make a night's window end before it opens, the window is empty; should it make a
window overlap the next one, the window ends where the next one opens. Asia/Singapore has had
no such change since 1982.

Everything here is pure: numpy, pandas and the standard library, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND
NS_PER_DAY = 24 * 60 * NS_PER_MINUTE
BILLING_MODES = ("per_block", "per_minute")
# The longest stay priced: what int64 nanoseconds hold (~292 years) less a day, so that no
# int64 step of the numpy pricing (the ceiling division adds up to a unit, at most a day, to
# the duration) can wrap; longer stays are refused. The most units it has, in the smallest
# unit (a minute), times MAX_CENTS, the most any amount in cents may be, still fits an int64:
# a charge never wraps, whatever the stay.
MAX_STAY_NS = 2**63 - 1 - NS_PER_DAY
MAX_UNITS = -(-MAX_STAY_NS // NS_PER_MINUTE)
MAX_CENTS = (2**63 - 1) // MAX_UNITS
# A block longer than a day would straddle the daily periods; a grace as long as a day is free
# parking.
MAX_BLOCK_MINUTES = 24 * 60
MAX_GRACE_MINUTES = 24 * 60

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ONE_DAY = timedelta(days=1)
# Nights looked at before the entry's local date and after the exit's, so that clock changes
# around midnight can never hide a night window that a stay touches.
_DATE_MARGIN = timedelta(days=2)


# -- helpers ---------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_whole(value: Any, key: str, least: int, most: int, fail) -> None:
    """A whole number in [least, most] (a boolean is no number), else ValueError naming the
    key and the range (not the value: it may be anything)."""
    if not _is_int(value) or not least <= value <= most:
        kind = "a boolean" if isinstance(value, bool) else type(value).__name__
        if _is_int(value):
            kind = "a number out of range"
        raise fail(f"{key} must be a whole number from {least} to {most} (got {kind})")


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _ceil_div_array(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """Ceiling division of an int64 array by a positive integer, in a new array."""
    result = np.negative(numerator)
    result //= denominator
    np.negative(result, out=result)
    return result


def _local_date(instant_ns: int, zone: ZoneInfo) -> date:
    return (_EPOCH + timedelta(microseconds=instant_ns // 1000)).astimezone(zone).date()


def _local_instant_ns(day: date, at: time, zone: ZoneInfo) -> int:
    local = datetime.combine(day, at.replace(fold=0), tzinfo=zone)
    return (local - _EPOCH) // _MICROSECOND * 1000


def _night_window_ns(day: date, night: NightCap, zone: ZoneInfo) -> tuple[int, int]:
    """The instants (UTC ns) at which night `day` opens and closes; see the module docstring."""
    opens = _local_instant_ns(day, night.start, zone)
    next_day = day + _ONE_DAY
    closes = _local_instant_ns(next_day if night.crosses_midnight else day, night.end, zone)
    next_opens = _local_instant_ns(next_day, night.start, zone)
    return opens, max(opens, min(closes, next_opens))


@lru_cache(maxsize=128)
def _night_table_of_year(timezone: str, night: NightCap, year: int) -> tuple[np.ndarray, ...]:
    zone = ZoneInfo(timezone)
    day, stop = date(year, 1, 1), date(year + 1, 1, 1)
    windows = []
    while day < stop:
        windows.append(_night_window_ns(day, night, zone))
        day += _ONE_DAY
    opens, closes = np.array(windows, dtype=np.int64).T.copy()
    opens.flags.writeable = closes.flags.writeable = False
    return opens, closes


def _first_closing_after(opens: np.ndarray, closes: np.ndarray, instants: np.ndarray) -> np.ndarray:
    """Per instant, the index of the first night closing after it.

    Same as `np.searchsorted(closes, instants, side="right")`, but nights open about a day
    apart, so an arithmetic guess is right or a night off (around clock changes) and correcting
    it is several times faster than a binary search of unsorted instants. The table must start
    before and end after every instant.
    """
    guess = instants - opens[0]
    guess //= NS_PER_DAY
    np.clip(guess, 0, opens.size - 1, out=guess)
    while True:  # step back while the night before also closes after the instant
        back = closes[guess - 1] > instants
        back &= guess > 0
        if not back.any():
            break
        guess -= back
    while True:  # step forward while the night closes at or before the instant
        forward = closes[guess] <= instants
        if not forward.any():
            return guess
        guess += forward


def _keep(mask: np.ndarray, *arrays: np.ndarray) -> list[np.ndarray]:
    """The elements of each array where `mask` is true (indices once, then `take`: faster)."""
    kept = np.flatnonzero(mask)
    return [array.take(kept) for array in arrays]


def _ns_array(values: Any, what: str, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind == "M":
        array = array.astype("datetime64[ns]")
        if np.isnat(array).any():
            raise ValueError(f"tariff {name!r}: {what} contains NaT")
        return array.view(np.int64)
    if array.dtype.kind in "iu":
        return array.astype(np.int64, copy=False)
    if array.size == 0:
        return array.astype(np.int64)
    raise ValueError(
        f"tariff {name!r}: {what} must be int64 UTC epoch nanoseconds, got dtype {array.dtype}"
    )


@dataclass(frozen=True)
class NightCap:
    """Each night's part of a stay costs at most `cap_cents`.

    The night window opens at local time `start` and closes at local time `end`, the next
    morning when `end <= start`. `Tariff` validates it (so that errors name the tariff).
    """

    start: time = time(22, 30)
    end: time = time(7, 0)
    cap_cents: int = 500

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Tariff:
    """A parking tariff; see the module docstring for the exact rules."""

    name: str = "default"
    billing: Literal["per_block", "per_minute"] = "per_block"
    block_minutes: int = 30
    rate_cents: int = 60
    grace_minutes: int = 0
    night_cap: NightCap | None = None
    daily_cap_cents: int | None = None
    timezone: str = "Asia/Singapore"
    # What a session whose exit was never recorded costs (docs/time-model.md): nothing unless
    # the operator sets a charge.
    lost_exit_charge_cents: int = 0

    def __post_init__(self) -> None:
        def fail(problem: str) -> ValueError:
            return ValueError(f"tariff {self.name!r}: {problem}")

        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"tariff name must be a non-empty string, got {self.name!r}")
        if self.billing not in BILLING_MODES:
            raise fail(f"billing must be one of {', '.join(BILLING_MODES)}, got {self.billing!r}")
        for key, least, most in (
            ("block_minutes", 1, MAX_BLOCK_MINUTES),
            ("rate_cents", 0, MAX_CENTS),
            ("grace_minutes", 0, MAX_GRACE_MINUTES),
            ("lost_exit_charge_cents", 0, MAX_CENTS),
        ):
            _check_whole(getattr(self, key), key, least, most, fail)
        if self.billing == "per_minute" and self.rate_cents % self.block_minutes:
            raise fail(
                f"per_minute billing needs rate_cents ({self.rate_cents}) to be a multiple of "
                f"block_minutes ({self.block_minutes}), so that a minute costs whole cents"
            )
        if self.daily_cap_cents is not None:
            _check_whole(self.daily_cap_cents, "daily_cap_cents", 0, MAX_CENTS, fail)
        night = self.night_cap
        if night is not None:
            if not isinstance(night, NightCap):
                raise fail(f"night_cap must be a NightCap or None, got {night!r}")
            for key in ("start", "end"):
                value = getattr(night, key)
                if not isinstance(value, time) or value.tzinfo is not None:
                    raise fail(f"night_cap.{key} must be a naive datetime.time, got {value!r}")
            if night.start == night.end:
                raise fail(f"night_cap start and end must differ (both {night.start})")
            _check_whole(night.cap_cents, "night_cap.cap_cents", 0, MAX_CENTS, fail)
        if not isinstance(self.timezone, str):
            raise fail(f"timezone must be an IANA time zone name, got {self.timezone!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise fail(f"timezone {self.timezone!r} is not a known IANA time zone") from None

    # -- derived quantities ------------------------------------------------------------------

    @property
    def unit_ns(self) -> int:
        """Length of one billing unit in nanoseconds."""
        return (self.block_minutes if self.billing == "per_block" else 1) * NS_PER_MINUTE

    @property
    def unit_cents(self) -> int:
        """Price of one billing unit in cents (exact: validated at construction)."""
        if self.billing == "per_block":
            return self.rate_cents
        return self.rate_cents // self.block_minutes

    @property
    def grace_ns(self) -> int:
        return self.grace_minutes * NS_PER_MINUTE

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- the scalar reference ----------------------------------------------------------------

    def charge_cents(self, entry: datetime, exit: datetime) -> int:
        """The charge in cents for one stay (tz-aware datetimes; exact integer arithmetic)."""
        entry_ns = self._instant_ns(entry, "entry")
        exit_ns = self._instant_ns(exit, "exit")
        duration = exit_ns - entry_ns
        if duration < 0:
            raise ValueError(
                f"tariff {self.name!r}: a stay cannot last a negative time "
                f"(entry {entry.isoformat()}, exit {exit.isoformat()})"
            )
        if duration > MAX_STAY_NS:
            raise ValueError(
                f"tariff {self.name!r}: a stay cannot be priced beyond {MAX_STAY_NS} ns "
                "(~292 years)"
            )
        if duration <= self.grace_ns:
            return 0
        unit, price = self.unit_ns, self.unit_cents
        units = -(-duration // unit)
        if self.night_cap is None and self.daily_cap_cents is None:
            return units * price
        nights = self._night_unit_ranges(entry_ns, units) if self.night_cap else []
        if self.daily_cap_cents is None:
            cap = self.night_cap.cap_cents
            return units * price - sum(
                max((last - first) * price - cap, 0) for first, last in nights
            )

        total = 0
        period = 0
        night = 0  # the first night that may still have units in this period or a later one
        while (first_unit := _ceil_div(period * NS_PER_DAY, unit)) < units:
            stop = min(_ceil_div((period + 1) * NS_PER_DAY, unit), units)
            amount = (stop - first_unit) * price
            while night < len(nights) and nights[night][1] <= first_unit:
                night += 1
            for night_first, night_stop in nights[night:]:
                if night_first >= stop:
                    break
                low, high = max(night_first, first_unit), min(night_stop, stop)
                amount += self._night_share(night_first, low, high) - (high - low) * price
            total += min(amount, self.daily_cap_cents)
            period += 1
        return total

    def _night_share(self, night_first: int, low: int, high: int) -> int:
        """What units [low, high) of a night whose first unit is `night_first` pay together."""
        cap, price = self.night_cap.cap_cents, self.unit_cents
        return min((high - night_first) * price, cap) - min((low - night_first) * price, cap)

    def _night_unit_ranges(self, entry_ns: int, units: int) -> list[tuple[int, int]]:
        """For each night a stay touches, the half-open range of its units in that night."""
        unit, zone = self.unit_ns, self.zone
        last_start = entry_ns + (units - 1) * unit
        day = _local_date(entry_ns, zone) - _DATE_MARGIN
        final = _local_date(last_start, zone) + _DATE_MARGIN
        ranges = []
        while day <= final:
            opens, closes = _night_window_ns(day, self.night_cap, zone)
            first = max(_ceil_div(opens - entry_ns, unit), 0)
            stop = min(_ceil_div(closes - entry_ns, unit), units)
            if stop > first:
                ranges.append((first, stop))
            day += _ONE_DAY
        return ranges

    def _instant_ns(self, moment: datetime, what: str) -> int:
        if not isinstance(moment, datetime):
            raise TypeError(f"tariff {self.name!r}: {what} must be a datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"tariff {self.name!r}: {what} {moment.isoformat()} is naive; "
                "give a timezone-aware datetime"
            )
        if isinstance(moment, pd.Timestamp):  # keeps nanoseconds that datetime cannot hold
            return int(moment.as_unit("ns").value)
        return (moment - _EPOCH) // _MICROSECOND * 1000

    # -- the vectorised engine ---------------------------------------------------------------

    def price(self, entry_ns: np.ndarray, exit_ns: np.ndarray) -> np.ndarray:
        """Charges in cents (int64) for stays given as int64 UTC epoch nanoseconds.

        `datetime64` arrays are accepted too (converted to nanoseconds). The result has the
        shape of the inputs, which must match.
        """
        entry = _ns_array(entry_ns, "entry_ns", self.name)
        exit_ = _ns_array(exit_ns, "exit_ns", self.name)
        if entry.shape != exit_.shape:
            raise ValueError(
                f"tariff {self.name!r}: entry_ns and exit_ns differ in shape "
                f"({entry.shape} and {exit_.shape})"
            )
        shape = entry.shape
        entry, exit_ = entry.ravel(), exit_.ravel()
        durations = exit_ - entry
        if durations.size and durations.min() < 0:
            bad = int(np.argmax(durations < 0))
            raise ValueError(
                f"tariff {self.name!r}: a stay cannot last a negative time "
                f"(stay {bad}: entry {entry[bad]} ns, exit {exit_[bad]} ns)"
            )
        if durations.size and durations.max() > MAX_STAY_NS:
            bad = int(np.argmax(durations > MAX_STAY_NS))
            raise ValueError(
                f"tariff {self.name!r}: a stay cannot be priced beyond {MAX_STAY_NS} ns "
                f"(~292 years; stay {bad})"
            )
        unit = self.unit_ns
        units = durations + (unit - 1)
        units //= unit
        if self.grace_minutes:
            units[durations <= self.grace_ns] = 0
        if self.daily_cap_cents is not None:
            charges = self._daily_capped(entry, units)
        else:
            charges = units * np.int64(self.unit_cents)
            if self.night_cap is not None:
                charges -= self._night_excess(entry, units)
        return charges.reshape(shape)

    def _night_excess(self, entry: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Per stay, what the night cap takes off the uncapped charge.

        Iterates over the nights a stay spans (a handful), vectorised over the stays; stays
        drop out of the working set as soon as their last unit is behind the night in hand.
        """
        excess = np.zeros(entry.shape, dtype=np.int64)
        where = np.flatnonzero(units)
        if not where.size:
            return excess
        unit, price, cap = self.unit_ns, self.unit_cents, self.night_cap.cap_cents
        start, count = entry[where], units[where]
        last_offset = (count - 1) * unit  # offset of the last unit's start from the entry
        opens, closes = self._night_table(start.min(), int((start + last_offset).max()))
        night = _first_closing_after(opens, closes, start)
        while True:
            open_offset = opens[night] - start
            live = open_offset <= last_offset
            if not live.all():
                where, start, count, last_offset, night, open_offset = _keep(
                    live, where, start, count, last_offset, night, open_offset
                )
                if not where.size:
                    return excess
            first = _ceil_div_array(open_offset, unit)
            np.maximum(first, 0, out=first)
            stop = _ceil_div_array(closes[night] - start, unit)
            np.minimum(stop, count, out=stop)
            stop -= first
            stop *= price
            stop -= cap
            np.maximum(stop, 0, out=stop)
            excess[where] += stop
            night += 1

    def _daily_capped(self, entry: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Charges under a daily cap (and the night cap, if any), period by period."""
        total = np.zeros(entry.shape, dtype=np.int64)
        where = np.flatnonzero(units)
        if not where.size:
            return total
        unit, price, daily = self.unit_ns, self.unit_cents, self.daily_cap_cents
        start, count = entry[where], units[where]
        if self.night_cap is not None:
            cap = self.night_cap.cap_cents
            opens, closes = self._night_table(start.min(), int((start + (count - 1) * unit).max()))
        period = 0
        while True:
            first_unit = _ceil_div(period * NS_PER_DAY, unit)
            live = count > first_unit
            if not live.all():
                where, start, count = _keep(live, where, start, count)
                if not where.size:
                    return total
            stop = np.minimum(count, _ceil_div((period + 1) * NS_PER_DAY, unit))
            amount = (stop - first_unit) * price
            if self.night_cap is not None:
                # Nights with a unit in [first_unit, stop): from the first one ending after
                # this period's first unit starts, while they open before its `stop` unit.
                rows = np.arange(where.size)
                p_start, p_count, p_stop = start, count, stop
                night = _first_closing_after(opens, closes, p_start + first_unit * unit)
                while True:
                    night_first = _ceil_div_array(opens[night] - p_start, unit)
                    np.maximum(night_first, 0, out=night_first)
                    live = night_first < p_stop
                    if not live.all():
                        rows, p_start, p_count, p_stop, night, night_first = _keep(
                            live, rows, p_start, p_count, p_stop, night, night_first
                        )
                        if not rows.size:
                            break
                    night_stop = _ceil_div_array(closes[night] - p_start, unit)
                    np.minimum(night_stop, p_count, out=night_stop)
                    low = np.maximum(night_first, first_unit)
                    high = np.maximum(np.minimum(night_stop, p_stop), low)
                    share = np.minimum((high - night_first) * price, cap)
                    share -= np.minimum((low - night_first) * price, cap)
                    share -= (high - low) * price
                    amount[rows] += share
                    night += 1
            total[where] += np.minimum(amount, daily)
            period += 1

    def _night_table(self, first_ns: int, last_ns: int) -> tuple[np.ndarray, np.ndarray]:
        """Opening and closing instants (UTC ns, sorted) of every night around [first, last]."""
        zone = self.zone
        first_year = (_local_date(int(first_ns), zone) - _DATE_MARGIN).year
        last_year = (_local_date(int(last_ns), zone) + _DATE_MARGIN).year
        years = [
            _night_table_of_year(self.timezone, self.night_cap, year)
            for year in range(first_year, last_year + 1)
        ]
        if len(years) == 1:
            return years[0]
        return (
            np.concatenate([opens for opens, _ in years]),
            np.concatenate([closes for _, closes in years]),
        )


DEFAULT_TARIFF = Tariff()


def hdb_eps(
    grace_minutes: int = 15, night_cap_cents: int | None = 500, name: str = "hdb_eps"
) -> Tariff:
    """Singapore public carparks with the electronic parking system.

    60 cents per half hour charged by the minute (2 cents per started minute), the first
    `grace_minutes` free, each night's part of a stay (22:30-07:00) capped at
    `night_cap_cents` (`None`: no night cap).
    """
    night = None if night_cap_cents is None else NightCap(time(22, 30), time(7, 0), night_cap_cents)
    return Tariff(
        name=name,
        billing="per_minute",
        block_minutes=30,
        rate_cents=60,
        grace_minutes=grace_minutes,
        night_cap=night,
        timezone="Asia/Singapore",
    )


# -- configuration ---------------------------------------------------------------------------

_PRESETS = {"default": lambda: DEFAULT_TARIFF, "hdb_eps": hdb_eps}
_INT_KEYS = ("block_minutes", "rate_cents", "grace_minutes", "lost_exit_charge_cents")
_KEYS = frozenset({"preset", "billing", *_INT_KEYS, "night_cap", "daily_cap_cents", "timezone"})
_NIGHT_KEYS = frozenset({"start", "end", "cap_cents"})
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def tariff_from_mapping(name: str, spec: Mapping[str, Any]) -> Tariff:
    """Build a tariff from a configuration table (e.g. `[tariffs.NAME]` in TOML).

    Keys: `preset` ("default" or "hdb_eps": start from it, other keys override it), `billing`,
    `block_minutes`, `rate_cents`, `grace_minutes`, `night_cap` (a table with optional `start`
    and `end`, "HH:MM" strings or TOML local times, and `cap_cents`, defaulting to 22:30,
    07:00 and 500; or `false` for none), `daily_cap_cents` (an integer, or `false` for none)
    and `timezone`. Missing keys take the preset's value, else `Tariff`'s default. Any problem
    raises `ValueError` naming the tariff and the key.
    """

    def bad(key: str, problem: str) -> ValueError:
        return ValueError(f"tariff {name!r}: {key}: {problem}")

    if not isinstance(spec, Mapping):
        raise ValueError(f"tariff {name!r}: expected a table of settings, got {spec!r}")
    unknown = sorted(str(key) for key in spec if key not in _KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key (known keys: {', '.join(sorted(_KEYS))})")

    base = DEFAULT_TARIFF
    if "preset" in spec:
        preset = spec["preset"]
        if not isinstance(preset, str) or preset not in _PRESETS:
            raise bad("preset", f"unknown preset {preset!r} (known: {', '.join(_PRESETS)})")
        base = _PRESETS[preset]()

    changes: dict[str, Any] = {}
    for key in ("billing", "timezone"):
        if key in spec:
            if not isinstance(spec[key], str):
                raise bad(key, f"expected a string, got {spec[key]!r}")
            changes[key] = spec[key]
    for key in _INT_KEYS:
        if key in spec:
            changes[key] = _config_int(spec[key], key, bad)
    if "daily_cap_cents" in spec:
        value = spec["daily_cap_cents"]
        changes["daily_cap_cents"] = (
            None if value is False else _config_int(value, "daily_cap_cents", bad)
        )
    if "night_cap" in spec:
        changes["night_cap"] = _config_night_cap(spec["night_cap"], bad)
    return replace(base, name=name, **changes)


def _config_night_cap(value: Any, bad) -> NightCap | None:
    if value is False:
        return None
    if not isinstance(value, Mapping):
        raise bad("night_cap", f"expected a table (start, end, cap_cents) or false, got {value!r}")
    unknown = sorted(str(key) for key in value if key not in _NIGHT_KEYS)
    if unknown:
        raise bad(
            f"night_cap.{unknown[0]}", f"unknown key (known keys: {', '.join(sorted(_NIGHT_KEYS))})"
        )
    night = NightCap()
    changes: dict[str, Any] = {}
    for key in ("start", "end"):
        if key in value:
            changes[key] = _config_time(value[key], f"night_cap.{key}", bad)
    if "cap_cents" in value:
        changes["cap_cents"] = _config_int(value["cap_cents"], "night_cap.cap_cents", bad)
    return replace(night, **changes)


def _config_int(value: Any, key: str, bad) -> int:
    if not _is_int(value):
        kind = "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"
        raise bad(key, f"expected a whole number, got {kind}")
    return value


def _config_time(value: Any, key: str, bad) -> time:
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and (match := _CLOCK.fullmatch(value)):
        hour, minute = int(match[1]), int(match[2])
        if hour <= 23 and minute <= 59:
            return time(hour, minute)
    raise bad(key, f'expected a local time of day as "HH:MM", got {value!r}')
