"""Runs of the whole five-asset pipeline in-process, against the real services."""

from __future__ import annotations

import dagster as dg

from carpark_dagster.defs.tick import assets
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    PostgresResource,
    WindowPickleIOManager,
)

Window = str | tuple[str, str]


def pipeline_resources(
    postgres: PostgresResource, search: ElasticsearchResource, base_dir: object, seed: int
) -> dict:
    """The pipeline's resources: the test's database and alias, a simulator with `seed`."""
    return {
        "postgres": postgres,
        "search": search,
        "carpark_config": CarparkConfigResource(),
        "gate_simulator": GateSimulatorResource(seed=seed, volume_scale=1.5),
        "window_io_manager": WindowPickleIOManager(base_dir=str(base_dir)),
    }


def run_pipeline(resources: dict, window: Window) -> dg.ExecuteInProcessResult:
    """One run of the whole pipeline, for one window or (like the bootstrap) a range; failures
    are in the result, not raised."""
    if isinstance(window, tuple):
        options = {
            "tags": {
                "dagster/asset_partition_range_start": window[0],
                "dagster/asset_partition_range_end": window[1],
            }
        }
    else:
        options = {"partition_key": window}
    return dg.materialize(
        dg.load_assets_from_modules([assets]), resources=resources, raise_on_error=False, **options
    )
