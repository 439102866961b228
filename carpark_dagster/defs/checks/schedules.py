"""The hourly checks, on by default."""

import dagster as dg

from carpark_dagster.defs.checks.jobs import carpark_checks_job
from carpark_dagster.domain.events import CARPARK_TIMEZONE

# Two minutes past the hour: between the ticks of :00 and :05, not queued behind one.
CHECKS_CRON = "2 * * * *"

hourly_checks = dg.ScheduleDefinition(
    name="hourly_checks",
    job=carpark_checks_job,
    cron_schedule=CHECKS_CRON,
    execution_timezone=CARPARK_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
