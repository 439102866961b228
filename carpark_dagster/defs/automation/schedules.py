"""The five-minute schedule, on by default. Each run processes everything due since the last
processed window, so a run after an outage catches up; Dagster's own catch-up runs after a
daemon outage then find nothing left to do."""

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_tick_job
from carpark_dagster.domain.events import CARPARK_TIMEZONE

TICK_CRON = "*/5 * * * *"

every_five_minutes = dg.ScheduleDefinition(
    name="every_five_minutes",
    job=carpark_tick_job,
    cron_schedule=TICK_CRON,
    execution_timezone=CARPARK_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
