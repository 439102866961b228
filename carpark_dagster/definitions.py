"""The code location: every definition under `carpark_dagster/defs/`, autoloaded (Dagster's
project layout, configured by `[tool.dg]` in pyproject.toml), with the resources configured
from the environment (`settings.py`)."""

import gc
from pathlib import Path

import dagster as dg

GC_YOUNG_THRESHOLD = 10_000


@dg.definitions
def defs() -> dg.Definitions:
    definitions = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    # What is loaded by now (Dagster, pandas, the definitions: ~200k container
    # objects) lives as long as the process. Frozen, it is left out of the garbage
    # collector's full passes, which otherwise walk all of it: one such pass inside a tick
    # took 0.2 s of its ~3 s. And a young collection every 10,000 new container objects
    # rather than 700: a tick makes millions (rows, timelines, documents), almost none of
    # them in cycles; its collections took 0.2 s, now ~0.06 s (bench/RESULTS.md). A run
    # worker loads this before it runs.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    return definitions
