"""The sensor that makes a fresh install show data within a minute instead of waiting for the
first schedule tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_tick_job
from carpark_dagster.defs.tick.partitions import five_minute_windows

BOOTSTRAP_HOURS = 3
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def bootstrap_window_keys(now: datetime, hours: int = BOOTSTRAP_HOURS) -> tuple[str, str]:
    """The first and last complete five-minute windows of the `hours` before `now`."""
    first = five_minute_windows.get_partition_key_for_timestamp(
        (now - timedelta(hours=hours)).timestamp()
    )
    # The window holding `now` is still open; the one before it is the last complete one.
    last = five_minute_windows.get_partition_key_for_timestamp(
        (now - timedelta(minutes=5)).timestamp()
    )
    return first, last


def first_tick_request(
    instance: dg.DagsterInstance, now: datetime
) -> dg.RunRequest | dg.SkipReason:
    """One run over the last few hours before `now`, unless the tick has stored data before."""
    if instance.get_latest_materialization_event(dg.AssetKey("carpark_table")):
        return dg.SkipReason("carpark_table has been materialised before")
    first, last = bootstrap_window_keys(now)
    return dg.RunRequest(run_key=f"bootstrap-{first}", tags={RANGE_START: first, RANGE_END: last})


@dg.sensor(
    job=carpark_tick_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="On a fresh install, process the last few hours at once so the dashboards "
    "have data before the first scheduled tick. Does nothing once data exists.",
)
def first_tick_sensor(context: dg.SensorEvaluationContext):
    return first_tick_request(context.instance, datetime.now(UTC))
