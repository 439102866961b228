"""Where gate events come from: the deterministic simulator, configured per deployment."""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from carpark_dagster.domain.config import CarparkConfig
from carpark_dagster.domain.simulator import LocationTraffic, SimulationConfig, simulate_window


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
        return simulate_window(simulation, start, end, since=since)
