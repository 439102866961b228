"""Everything Dagster loads: assets, checks, the job, its schedule and sensor, resources.

Resources read their settings from the environment (see .env.example); where a variable is
unset, the local default that `make up` provides applies. Secrets are passed as `dg.EnvVar`, so
their values never show in the UI.
"""

from __future__ import annotations

import os

import dagster as dg

from carpark_dagster import assets
from carpark_dagster.automation import carpark_tick_job, every_five_minutes, first_tick_sensor
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.simulator import GateSimulatorResource
from carpark_dagster.resources.window_io import WindowPickleIOManager


def _env(name: str, default=None):
    """`dg.EnvVar(name)` when the variable is set, else `default`."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env_int(name: str, default: int):
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() not in {"0", "false", "no", "off"}


def build_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    return {
        "postgres": PostgresResource(dsn=_env("CARPARK_POSTGRES_DSN", PostgresResource().dsn)),
        "search": ElasticsearchResource(
            url=_env("CARPARK_ES_URL", ElasticsearchResource().url),
            username=_env("CARPARK_ES_USERNAME"),
            password=_env("CARPARK_ES_PASSWORD"),
            api_key=_env("CARPARK_ES_API_KEY"),
            ca_certs=_env("CARPARK_ES_CA_CERTS"),
            verify_certs=_flag("CARPARK_ES_VERIFY_CERTS", True),
            engine=os.environ.get("CARPARK_ES_ENGINE") or "auto",
        ),
        "window_io_manager": WindowPickleIOManager(),
        "gate_simulator": GateSimulatorResource(
            seed=_env_int("CARPARK_SIM_SEED", 8),
            sessions_per_location_per_day=_env_int("CARPARK_SIM_SESSIONS_PER_DAY", 400),
        ),
    }


defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([assets]),
    jobs=[carpark_tick_job],
    schedules=[every_five_minutes],
    sensors=[first_tick_sensor],
    resources=build_resources(),
)
