"""The five-minute job, its schedule, and the sensor that makes a fresh install show data
within a minute instead of waiting for the first schedule tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from carpark_dagster.partitions import five_minute_windows

PIPELINE_TAG = "carpark/pipeline"
BOOTSTRAP_HOURS = 3

carpark_tick_job = dg.define_asset_job(
    "carpark_tick",
    selection=dg.AssetSelection.groups("carpark"),
    description="One five-minute tick: events to sessions to PostgreSQL to search to earnings.",
    # Ticks run one at a time (see dagster.yaml): open sessions carry from one to the next.
    tags={PIPELINE_TAG: "tick"},
)

every_five_minutes = dg.build_schedule_from_partitioned_job(
    carpark_tick_job,
    name="every_five_minutes",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)


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


@dg.sensor(
    job=carpark_tick_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="On a fresh install, process the last few hours at once so the dashboards "
    "have data before the first scheduled tick. Does nothing once data exists.",
)
def first_tick_sensor(context: dg.SensorEvaluationContext):
    if context.instance.get_latest_materialization_event(dg.AssetKey("carpark_table")):
        return dg.SkipReason("carpark_table has been materialised before")
    first, last = bootstrap_window_keys(datetime.now(UTC))
    return dg.RunRequest(
        run_key=f"bootstrap-{first}",
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )
