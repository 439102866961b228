"""The code location: every definition under `carpark_dagster/defs/`, autoloaded (Dagster's
project layout, configured by `[tool.dg]` in pyproject.toml), with the resources configured
from the environment (`settings.py`)."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
