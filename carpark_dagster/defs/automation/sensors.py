"""The sensor that makes a fresh install show data within a minute instead of waiting for the
first schedule tick."""

from __future__ import annotations

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_tick_job

FIRST_TICK_RUN_KEY = "first-tick"


def first_tick_request(instance: dg.DagsterInstance) -> dg.RunRequest | dg.SkipReason:
    """One tick now, unless the tick has stored data before. The tick itself works out what
    is due (from the start of the day on a fresh install)."""
    if instance.get_latest_materialization_event(dg.AssetKey("carpark_table")):
        return dg.SkipReason("carpark_table has been materialised before")
    return dg.RunRequest(run_key=FIRST_TICK_RUN_KEY)


@dg.sensor(
    job=carpark_tick_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="On a fresh install, run the first tick at once so the dashboards have data "
    "before the first scheduled tick. Does nothing once data exists.",
)
def first_tick_sensor(context: dg.SensorEvaluationContext):
    return first_tick_request(context.instance)
