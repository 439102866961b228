"""The sensors: the first tick on a fresh install (data within a minute instead of waiting
for the schedule), and the inbox of gate files."""

import time

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_inbox_job, carpark_tick_job
from carpark_dagster.resources import InboxResource

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


LANDING_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def inbox_request(
    instance: dg.DagsterInstance, inbox: InboxResource, now_s: float
) -> dg.RunRequest | dg.SkipReason:
    """A landing run when complete files wait and none is on its way already. No run key:
    a landing run that failed is followed by another at the next evaluation, and a file
    that came before (by content) is recognised however often it is offered."""
    if not inbox.inbox_on:
        return dg.SkipReason(f"CARPARK_SOURCE={inbox.source}: the inbox is not read")
    files = inbox.complete_files(now_s)
    if not files:
        return dg.SkipReason(f"no complete gate files in {inbox.directory}")
    active = instance.get_run_records(
        dg.RunsFilter(job_name=carpark_inbox_job.name, statuses=LANDING_STATUSES), limit=1
    )
    if active:
        return dg.SkipReason(f"{len(files)} files wait for the landing run in progress")
    return dg.RunRequest(tags={"carpark/inbox_files": str(len(files))})


@dg.sensor(
    job=carpark_inbox_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
    description="Lands the complete gate files dropped in the inbox (CARPARK_INBOX_DIR) when "
    "CARPARK_SOURCE is inbox or both; the next tick processes their events.",
)
def inbox_sensor(context: dg.SensorEvaluationContext, inbox: InboxResource):
    return inbox_request(context.instance, inbox, time.time())
