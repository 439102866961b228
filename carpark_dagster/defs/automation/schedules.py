"""The five-minute schedule, on by default."""

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_tick_job

every_five_minutes = dg.build_schedule_from_partitioned_job(
    carpark_tick_job,
    name="every_five_minutes",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
