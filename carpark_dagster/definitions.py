"""The code location: every definition under `carpark_dagster/defs/`, autoloaded (Dagster's
project layout, configured by `[tool.dg]` in pyproject.toml), with the resources configured
from the environment (`settings.py`)."""

import gc
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    definitions = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # What is loaded by now (Dagster, pandas, the clients, the definitions: ~10^6 objects)
    # lives as long as the process. Frozen, it is left out of the garbage collector's full
    # passes, which otherwise walk all of it: one such pass inside a tick took 0.2 s of its
    # ~3 s (bench/RESULTS.md). A run worker loads this before it runs.
    gc.freeze()
    return definitions
