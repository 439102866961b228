"""Where gate events come from: the deterministic simulator, configured per deployment."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from carpark_dagster.domain.simulator import DEFAULT_LOCATIONS, SimulationConfig, simulate_window


class GateSimulatorResource(dg.ConfigurableResource):
    """Simulated gates: the same (seed, window) always gives the same events."""

    seed: int = Field(default=8, description="Changes every simulated car and time.")
    sessions_per_location_per_day: int = Field(default=400, ge=0)
    locations: list[str] = Field(default_factory=lambda: list(DEFAULT_LOCATIONS))

    def events_between(self, start: datetime, end: datetime) -> pd.DataFrame:
        config = SimulationConfig(
            seed=self.seed,
            locations=tuple(self.locations),
            sessions_per_location_per_day=self.sessions_per_location_per_day,
        )
        return simulate_window(config, start, end)
