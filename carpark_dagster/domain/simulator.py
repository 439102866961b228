"""A deterministic gate-event simulator.

Events are a pure function of (seed, window): each location's day of sessions is planned from
(seed, local date, location), and a window emits the entries and exits of those plans that
fall inside it. Re-simulating a window therefore yields identical events, which is what makes
re-runs and backfills idempotent. Sessions that cross midnight come from earlier days' plans.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from faker import Faker

from carpark_dagster.domain.events import CARPARK_TIMEZONE, ENTRY, EVENT_COLUMNS, EXIT

LOCAL_TZ = ZoneInfo(CARPARK_TIMEZONE)
DEFAULT_LOCATIONS = tuple(f"Park{i}" for i in range(6))
MAX_STAY = timedelta(hours=47)  # plans of the two previous days can still emit exits
_DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class SimulationConfig:
    seed: int = 8
    locations: tuple[str, ...] = DEFAULT_LOCATIONS
    sessions_per_location_per_day: int = 400


def simulate_window(config: SimulationConfig, start: datetime, end: datetime) -> pd.DataFrame:
    """Gate events with `start <= event_time < end`, ordered by time then id."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("simulation windows must be timezone-aware")
    first_day = (start - MAX_STAY).astimezone(LOCAL_TZ).date()
    last_day = end.astimezone(LOCAL_TZ).date()
    start_ns, end_ns = pd.Timestamp(start).value, pd.Timestamp(end).value

    frames = []
    day = first_day
    while day <= last_day:
        for location in config.locations:
            plan = _day_plan(config.seed, day, location, config.sessions_per_location_per_day)
            for kind, times in ((ENTRY, plan.entry_ns), (EXIT, plan.exit_ns)):
                inside = (times >= start_ns) & (times < end_ns)
                if inside.any():
                    frames.append(
                        pd.DataFrame(
                            {
                                "event_id": plan.event_ids(kind)[inside],
                                "plate": plan.plates[inside],
                                "location_id": location,
                                "event_type": kind,
                                "event_time": pd.to_datetime(times[inside], utc=True),
                            }
                        )
                    )
        day += timedelta(days=1)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in EVENT_COLUMNS}).astype(
            {"event_time": "datetime64[ns, UTC]"}
        )
    events = pd.concat(frames, ignore_index=True)
    return events.sort_values(["event_time", "event_id"], ignore_index=True)[EVENT_COLUMNS]


@dataclass(frozen=True)
class _DayPlan:
    prefix: str
    plates: np.ndarray
    entry_ns: np.ndarray
    exit_ns: np.ndarray

    def event_ids(self, kind: str) -> np.ndarray:
        suffix = "in" if kind == ENTRY else "out"
        return np.array([f"{self.prefix}-{i:06d}-{suffix}" for i in range(len(self.plates))])


@lru_cache(maxsize=256)
def _day_plan(seed: int, day: date, location: str, volume: int) -> _DayPlan:
    rng = np.random.default_rng(_stable_seed(seed, day.isoformat(), location))
    weekend = day.weekday() >= 5
    n = int(rng.poisson(volume * (0.7 if weekend else 1.0)))

    # Arrivals: a morning and an evening peak over a steady daytime trickle.
    which = rng.choice(3, size=n, p=[0.35, 0.35, 0.30])
    hours = np.where(
        which == 0,
        rng.normal(8.5, 1.2, n),
        np.where(which == 1, rng.normal(18.5, 1.5, n), rng.uniform(6.0, 23.0, n)),
    )
    arrival_s = np.clip(hours * 3600, 0, _DAY_SECONDS - 1).astype(np.int64)
    # Stays: many short ones, a long tail, a few overnight.
    stay_s = np.clip(rng.lognormal(np.log(75 * 60), 0.9, n), 60, MAX_STAY.total_seconds())
    stay_s = stay_s.astype(np.int64)

    midnight = pd.Timestamp(datetime.combine(day, datetime.min.time(), tzinfo=LOCAL_TZ)).value
    entry_ns = midnight + arrival_s * 1_000_000_000
    exit_ns = entry_ns + stay_s * 1_000_000_000

    faker = Faker("en_US")
    faker.seed_instance(_stable_seed(seed, day.isoformat(), location, "plates"))
    plates = np.array([faker.license_plate() for _ in range(n)], dtype=object)
    prefix = f"sim{seed}-{location}-{day:%Y%m%d}"
    return _DayPlan(prefix=prefix, plates=plates, entry_ns=entry_ns, exit_ns=exit_ns)


def _stable_seed(*parts: object) -> int:
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")
