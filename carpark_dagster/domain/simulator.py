"""A deterministic, realistic gate-event simulator.

Events are a pure function of (seed, window). Each location's day of traffic is *planned* from
(seed, local date, location) — arrivals, stays, admission at the gate, plates, and a little
dirty data — and a window emits the events of those plans that are *delivered* inside it.
Re-simulating a window therefore yields byte-identical events, which is what makes re-runs and
backfills idempotent. Stays that cross midnight come from the previous days' plans.

A plan keeps its deliveries sorted by time, so a window takes its events with a binary search:
its cost follows its own events, not its days'. Planning a day happens once per location and
day; `simulate_window` takes the plans from a `PlanSource`, which may keep them (the gate
simulator resource stores them on disk, so every run after the first of a day only reads).

Realism, per location:
- occupancy never exceeds the capacity: arrivals that would overfill the carpark are turned
  away. Each day keeps a reserve of spaces for cars staying overnight from the two previous
  days, and admits at most half that reserve as overnight stays itself, so days never need
  each other's plans to respect the capacity;
- an hour-of-day arrival profile with morning and evening peaks (later and flatter at
  weekends, with 70% of the weekday volume), many short stays, a long tail, a few overnight;
- Singapore plates with valid checksums (vectorised), some foreign plates from Faker;
- dirty data in a configurable share of sessions: lost entry reads (an exit with no entry),
  lost exit reads (a car that never seems to leave), duplicate deliveries of an event, and
  events delivered late (up to six hours).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from faker import Faker

from carpark_dagster.domain.events import CARPARK_TIMEZONE, ENTRY, EVENT_COLUMNS, EXIT
from carpark_dagster.domain.plates import sg_plates

LOCAL_TZ = ZoneInfo(CARPARK_TIMEZONE)
MAX_STAY = timedelta(hours=47)
MAX_DELIVERY_DELAY = timedelta(hours=6)
_NS = 1_000_000_000
_MINUTE_NS = 60 * _NS
_HOUR_NS = 3600 * _NS
_DAY_NS = 24 * _HOUR_NS
_FOREIGN_SHARE = 0.05
_FOREIGN_POOL = 256


@dataclass(frozen=True)
class LocationTraffic:
    location_id: str
    capacity: int = 200
    sessions_per_day: int = 400
    plate_rule: str = "any"


DEFAULT_TRAFFIC = tuple(LocationTraffic(f"Park{i}") for i in range(6))


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 8
    locations: tuple[LocationTraffic, ...] = field(default=DEFAULT_TRAFFIC)
    volume_scale: float = 1.0  # multiplies every location's arrivals and capacity
    dirty_share: float = 0.01

    def __post_init__(self) -> None:
        if self.volume_scale < 0:
            raise ValueError("volume_scale must not be negative")
        if not 0 <= self.dirty_share <= 1:
            raise ValueError("dirty_share must be between 0 and 1")


def simulate_window(
    config: SimulationConfig,
    start: datetime,
    end: datetime,
    since: datetime | None = None,
    plans: PlanSource | None = None,
) -> pd.DataFrame:
    """Gate events delivered in `[start, end)`, in delivery order.

    `event_time` is when the car passed the gate; a late event was delivered after it. With
    `since`, only cars that entered at or after it exist: the carpark starts empty then (a
    fresh install starts there, so it never sees exits of cars it did not see enter).
    `plans` gives each location's plan of a day (default: planned here, kept in memory).
    """
    plans = plans or plan_day
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("simulation windows must be timezone-aware")
    if since is not None and since.tzinfo is None:
        raise ValueError("since must be timezone-aware")
    if end <= start:
        return _no_events()
    start_ns, end_ns = pd.Timestamp(start).value, pd.Timestamp(end).value
    since_ns = pd.Timestamp(since).value if since is not None else None
    first_day = (start - MAX_STAY - MAX_DELIVERY_DELAY).astimezone(LOCAL_TZ).date()
    last_day = end.astimezone(LOCAL_TZ).date()

    frames = []
    for offset in range((last_day - first_day).days + 1):
        day = first_day + timedelta(days=offset)
        for traffic in config.locations:
            plan = plans(
                config.seed, day, _scaled(traffic, config.volume_scale), config.dirty_share
            )
            frame = plan.delivered_between(start_ns, end_ns, since_ns)
            if len(frame):
                frames.append(frame)
    if not frames:
        return _no_events()
    events = pd.concat(frames, ignore_index=True)
    # Ties keep the (deterministic) order in which the plans were read.
    order = np.argsort(events["_delivered"].to_numpy(), kind="stable")
    events = events.take(order).reset_index(drop=True)
    events["event_time"] = pd.to_datetime(events["event_time"], utc=True)
    return events[EVENT_COLUMNS]


def _scaled(traffic: LocationTraffic, scale: float) -> LocationTraffic:
    """`scale` times the traffic in a carpark `scale` times as large."""
    if scale == 1:
        return traffic
    return replace(
        traffic,
        capacity=round(traffic.capacity * scale),
        sessions_per_day=round(traffic.sessions_per_day * scale),
    )


def _no_events() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS}).astype(
        {"event_time": "datetime64[ns, UTC]"}
    )


@dataclass(frozen=True)
class DayPlan:
    """Every delivery of the events of one location's admitted sessions of one local day,
    sorted by the time it is delivered, one array per column: a window's events are one slice
    of each. Plain arrays, so it can be stored and read back."""

    prefix: str
    location_id: str
    delivered_ns: np.ndarray  # ascending
    number: np.ndarray  # index of the session in the day's candidates: stable ids
    plate: np.ndarray
    event_ns: np.ndarray  # when the car passed the gate
    entry_ns: np.ndarray  # when the car entered (the same for its exit)
    is_exit: np.ndarray  # an exit (else an entry)

    def delivered_between(
        self, start_ns: int, end_ns: int, since_ns: int | None = None
    ) -> pd.DataFrame:
        first, last = np.searchsorted(self.delivered_ns, [start_ns, end_ns], side="left")
        part = {name: np.asarray(values[first:last]) for name, values in self.arrays().items()}
        if since_ns is not None:
            exists = part["entry_ns"] >= since_ns
            part = {name: values[exists] for name, values in part.items()}
        if not len(part["number"]):
            return pd.DataFrame(columns=[*EVENT_COLUMNS, "_delivered"])
        is_exit = part["is_exit"]
        numbers = np.strings.zfill(part["number"].astype("U7"), 7)
        ids = np.strings.add(np.strings.add(self.prefix, numbers), np.where(is_exit, "-out", "-in"))
        return pd.DataFrame(
            {
                "event_id": ids.astype(object),
                "plate": part["plate"].astype(object),
                "location_id": self.location_id,
                "event_type": np.where(is_exit, EXIT, ENTRY).astype(object),
                "event_time": part["event_ns"],
                "_delivered": part["delivered_ns"],
            }
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The plan as named arrays (`from_arrays` reads them back)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("prefix", "location_id")
        }

    @classmethod
    def from_arrays(cls, prefix: str, location_id: str, arrays: dict[str, np.ndarray]):
        return cls(prefix=prefix, location_id=location_id, **arrays)


# Gives the plan of (seed, local day, location traffic, dirty share).
PlanSource = Callable[[int, date, LocationTraffic, float], DayPlan]


def plan_prefix(seed: int, day: date, location_id: str) -> str:
    return f"sim{seed}-{location_id}-{day:%Y%m%d}-"


def _deliveries(
    entry_ns: np.ndarray,
    exit_ns: np.ndarray,
    sent: dict[str, np.ndarray],
    delay: dict[str, np.ndarray],
    again: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every delivery as (time, session row, is an exit): first ones, then repeats, entries
    before exits, stably sorted by time."""
    times, rows, exits = [], [], []
    for kind, moments in ((ENTRY, entry_ns), (EXIT, exit_ns)):
        delivered = moments + delay[kind]
        for when, mask in (
            (delivered, sent[kind]),
            (delivered + again[kind], sent[kind] & (again[kind] >= 0)),
        ):
            picked = np.flatnonzero(mask)
            times.append(when[picked])
            rows.append(picked)
            exits.append(np.full(len(picked), kind == EXIT))
    times_all = np.concatenate(times)
    order = np.argsort(times_all, kind="stable")
    return times_all[order], np.concatenate(rows)[order], np.concatenate(exits)[order]


@lru_cache(maxsize=64)
def plan_day(seed: int, day: date, traffic: LocationTraffic, dirty_share: float) -> DayPlan:
    """The plan of one location's day (kept in memory for the windows that follow)."""
    return make_day_plan(seed, day, traffic, dirty_share)


def make_day_plan(seed: int, day: date, traffic: LocationTraffic, dirty_share: float) -> DayPlan:
    rng = np.random.default_rng(_stable_seed(seed, day.isoformat(), traffic.location_id))
    weekend = day.weekday() >= 5
    n = int(rng.poisson(traffic.sessions_per_day * (0.7 if weekend else 1.0)))
    midnight = pd.Timestamp(datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ)).value

    arrivals = midnight + np.sort(_arrival_offsets_ns(rng, n, weekend))
    stays = _stays_ns(rng, n, weekend)
    departures = arrivals + stays
    admitted = _admit(arrivals, departures, traffic.capacity, next_midnight=midnight + _DAY_NS)

    number = np.flatnonzero(admitted)
    entry_ns, exit_ns = arrivals[admitted], departures[admitted]
    m = len(number)

    plates = sg_plates(rng, m).astype("<U16")
    if traffic.plate_rule == "any" and m:
        foreign = rng.random(m) < _FOREIGN_SHARE
        plates[foreign] = rng.choice(_foreign_plates(seed), size=int(foreign.sum()))

    # Dirty data: a quarter each of lost entries, lost exits, duplicate and late deliveries.
    kind = rng.random(m)
    quarter = dirty_share / 4
    on_entry = rng.random(m) < 0.5
    duplicate = (kind >= 2 * quarter) & (kind < 3 * quarter)
    late = (kind >= 3 * quarter) & (kind < dirty_share)
    again = rng.integers(0, 20 * _MINUTE_NS, m)
    delay = rng.integers(5 * _MINUTE_NS, int(MAX_DELIVERY_DELAY.total_seconds()) * _NS, m)
    none = np.full(m, -1, dtype=np.int64)
    zero = np.zeros(m, dtype=np.int64)
    delivered_ns, rows, is_exit = _deliveries(
        entry_ns,
        exit_ns,
        sent={ENTRY: ~(kind < quarter), EXIT: ~((kind >= quarter) & (kind < 2 * quarter))},
        delay={
            ENTRY: np.where(late & on_entry, delay, zero),
            EXIT: np.where(late & ~on_entry, delay, zero),
        },
        again={
            ENTRY: np.where(duplicate & on_entry, again, none),
            EXIT: np.where(duplicate & ~on_entry, again, none),
        },
    )
    return DayPlan(
        prefix=plan_prefix(seed, day, traffic.location_id),
        location_id=traffic.location_id,
        delivered_ns=delivered_ns,
        number=number[rows],
        plate=plates[rows],
        event_ns=np.where(is_exit, exit_ns[rows], entry_ns[rows]),
        entry_ns=entry_ns[rows],
        is_exit=is_exit,
    )


def _arrival_offsets_ns(rng: np.random.Generator, n: int, weekend: bool) -> np.ndarray:
    """Seconds after local midnight: two peaks over a steady daytime trickle."""
    if weekend:
        peaks, weights = ((11.0, 2.0), (19.0, 1.5)), [0.4, 0.3, 0.3]
    else:
        peaks, weights = ((8.5, 1.2), (18.5, 1.5)), [0.35, 0.35, 0.3]
    which = rng.choice(3, size=n, p=weights)
    hours = np.where(
        which == 0,
        rng.normal(*peaks[0], n),
        np.where(which == 1, rng.normal(*peaks[1], n), rng.uniform(6.0, 23.0, n)),
    )
    seconds = np.clip(hours * 3600, 0, 24 * 3600 - 1).astype(np.int64)
    return seconds * _NS


def _stays_ns(rng: np.random.Generator, n: int, weekend: bool) -> np.ndarray:
    """Many short stays, a long tail, a few overnight; whole seconds, at most MAX_STAY."""
    median_minutes = 120 if weekend else 75
    short = rng.lognormal(np.log(median_minutes * 60), 0.9, n)
    long = rng.lognormal(np.log(10 * 3600), 0.6, n)
    seconds = np.where(rng.random(n) < 0.04, long, short)
    return np.clip(seconds, 60, MAX_STAY.total_seconds()).astype(np.int64) * _NS


def _admit(
    arrivals: np.ndarray, departures: np.ndarray, capacity: int, next_midnight: int
) -> np.ndarray:
    """Which arrivals (sorted by time) get in without the carpark ever overfilling."""
    n = len(arrivals)
    reserve = max(2, capacity // 10) if capacity else 0
    # At most half the reserve of today's cars may stay past midnight (they use the reserve
    # tomorrow and, for stays up to 47 h, the day after).
    overnight = departures >= next_midnight
    admitted = ~overnight | (np.cumsum(overnight) <= reserve // 2)
    limit = capacity - reserve
    if limit <= 0:
        return np.zeros(n, dtype=bool)
    while True:
        rows = np.flatnonzero(admitted)
        parked = np.arange(1, len(rows) + 1) - np.searchsorted(
            np.sort(departures[rows]), arrivals[rows], side="right"
        )
        over = parked > limit
        if not over.any():
            return admitted
        # Turned away at the gate; removing them can only lower later occupancy.
        admitted[rows[over]] = False


@lru_cache(maxsize=64)
def _foreign_plates(seed: int) -> np.ndarray:
    faker = Faker("en_US")
    faker.seed_instance(_stable_seed(seed, "foreign-plates"))
    return np.array([faker.license_plate() for _ in range(_FOREIGN_POOL)], dtype="<U16")


def _stable_seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
