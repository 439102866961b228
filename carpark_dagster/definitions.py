"""Everything Dagster loads: assets, checks, the job, its schedule and sensor, resources
(configured from the environment: see `carpark_dagster.settings`)."""

from __future__ import annotations

import dagster as dg

from carpark_dagster import assets
from carpark_dagster.automation import carpark_tick_job, every_five_minutes, first_tick_sensor
from carpark_dagster.legacy_job import import_legacy_csv
from carpark_dagster.search_rebuild_job import rebuild_search_index
from carpark_dagster.settings import build_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([assets]),
    jobs=[carpark_tick_job, import_legacy_csv, rebuild_search_index],
    schedules=[every_five_minutes],
    sensors=[first_tick_sensor],
    resources=build_resources(),
)
