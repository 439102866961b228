"""The carpark configuration (locations, tariffs, plate rules) as a resource."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.config import CarparkConfig, load_config


class CarparkConfigResource(dg.ConfigurableResource):
    """Reads the TOML file named by `CARPARK_CONFIG`, or the one shipped with the package."""

    path: str | None = Field(default=None, description="Path of the carpark TOML file.")

    def load(self) -> CarparkConfig:
        return load_config(self.path)
