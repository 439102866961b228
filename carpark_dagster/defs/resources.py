"""The resources every job shares, configured from the environment (see `settings.py`)."""

import dagster as dg

from carpark_dagster.settings import build_resources


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=build_resources())
