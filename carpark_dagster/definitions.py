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
from carpark_dagster.resources import (
    CarparkConfigResource,
    ElasticsearchResource,
    GateSimulatorResource,
    PostgresResource,
    WindowPickleIOManager,
)


def _env(name: str, default=None):
    """`dg.EnvVar(name)` when the variable is set, else `default`."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _env_int(name: str, default: int):
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {value!r}") from None


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
        "carpark_config": CarparkConfigResource(path=_env("CARPARK_CONFIG")),
        "gate_simulator": GateSimulatorResource(
            seed=_env_int("CARPARK_SIM_SEED", 8),
            volume_scale=_env_float("CARPARK_SIM_VOLUME_SCALE", 1.0),
            dirty_share=_env_float("CARPARK_SIM_DIRTY_SHARE", 0.01),
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
