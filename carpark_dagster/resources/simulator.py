"""Where gate events come from: the deterministic simulator, configured per deployment.

Each location's day is planned once and the plan kept on disk (`plan_dir`): every later window
of that day, in this run or another, reads only its own slice of it (memory-mapped), so a
window costs in proportion to its own events.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.simulator import (
    DayPlan,
    LocationTraffic,
    SimulationConfig,
    make_day_plan,
    plan_prefix,
    simulate_window,
)
from carpark_dagster.resources.storage import storage_path

# Change it when a plan's arrays or the way they are made change: old plans are then unused.
PLAN_FORMAT = 3
PLAN_RETENTION_DAYS = 7


class GateSimulatorResource(dg.ConfigurableResource):
    """Simulated gates at the configured locations: the same (seed, window) always gives the
    same events. Capacity and arrivals per location come from the carpark configuration."""

    seed: int = Field(default=8, description="Changes every simulated car and time.")
    volume_scale: float = Field(
        default=1.0, ge=0, description="Multiplies every location's arrivals and capacity."
    )
    dirty_share: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of sessions with a lost, late or repeated read.",
    )
    plan_dir: str = Field(
        default_factory=lambda: storage_path("simulator-plans"),
        description="Where each location's planned day is kept (a week; rebuilt when missing).",
    )

    def events_between(
        self,
        config: CarparkConfig,
        start: datetime,
        end: datetime,
        since: datetime | None = None,
    ) -> pd.DataFrame:
        """Events delivered in `[start, end)`, of the cars that entered at or after `since`."""
        traffic = tuple(
            LocationTraffic(
                location_id=loc.location_id,
                capacity=loc.capacity,
                sessions_per_day=loc.sessions_per_day,
                plate_rule=loc.plate_rule,
            )
            for loc in config.locations.values()
        )
        simulation = SimulationConfig(
            seed=self.seed,
            locations=traffic,
            volume_scale=self.volume_scale,
            dirty_share=self.dirty_share,
        )
        base = self.plan_dir

        def stored_plan(seed: int, day: date, traffic: LocationTraffic, dirty: float) -> DayPlan:
            return _stored_plan(base, seed, day, traffic, dirty)

        return simulate_window(simulation, start, end, since=since, plans=stored_plan)


_ARRAYS = ("delivered_ns", "number", "plate", "event_ns", "entry_ns", "is_exit")


@lru_cache(maxsize=128)
def _stored_plan(
    base: str, seed: int, day: date, traffic: LocationTraffic, dirty_share: float
) -> DayPlan:
    """The plan from `base`, made and stored first if it is not there (memory-mapped arrays:
    a window reads the pages it needs)."""
    key = repr((PLAN_FORMAT, seed, day.isoformat(), traffic, dirty_share)).encode()
    digest = hashlib.blake2b(key, digest_size=10).hexdigest()
    folder = Path(base) / f"{day:%Y%m%d}-{traffic.location_id}-{digest}"
    if not (folder / "complete").exists():
        _store(make_day_plan(seed, day, traffic, dirty_share), folder)
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    return DayPlan.from_arrays(
        plan_prefix(seed, day, traffic.location_id), traffic.location_id, arrays
    )


def _store(plan: DayPlan, folder: Path) -> None:
    """Write under a temporary name, then rename: readers never see half a plan; of two
    processes planning the same day, one rename wins and the other's copy is dropped."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    partial.mkdir(exist_ok=True)
    for name, values in plan.arrays().items():
        np.save(partial / f"{name}.npy", values)
    (partial / "complete").touch()
    try:
        partial.rename(folder)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
    _prune(folder.parent, keep=folder)


def _prune(base: Path, keep: Path) -> None:
    cutoff = time.time() - PLAN_RETENTION_DAYS * 86_400
    for old in base.iterdir():
        try:
            if old != keep and old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except FileNotFoundError:
            pass
