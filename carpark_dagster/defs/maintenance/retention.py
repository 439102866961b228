"""The daily retention job and its schedule (on by default): old gate events, quarantine,
earnings history, run failures, stale exit-log entries and Dagster's old runs are deleted in
batches (docs/operations.md#retention). Like every run, it is the database's one writer while
it works (its PostgreSQL resource takes the writer lock)."""

from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.domain.events import CARPARK_TIMEZONE
from carpark_dagster.lib.retention import apply_retention, cutoff
from carpark_dagster.resources import CarparkConfigResource, PostgresResource
from carpark_dagster.resources.retention import RetentionResource

# Quiet hours in carpark time, off the five-minute marks the ticks start on.
RETENTION_CRON = "17 3 * * *"
# Dagster runs deleted per job run at most: a backlog is worked off over a few days.
MAX_RUNS_DELETED = 5_000
FINISHED = [
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
]


def delete_old_runs(instance: dg.DagsterInstance, days: int, now: datetime) -> int:
    """Delete finished runs created more than `days` ago (0: none), with their event logs."""
    before = cutoff(now, days)
    if before is None:
        return 0
    records = instance.get_run_records(
        filters=dg.RunsFilter(statuses=FINISHED, created_before=before),
        limit=MAX_RUNS_DELETED,
        ascending=True,
    )
    for record in records:
        instance.delete_run(record.dagster_run.run_id)
    return len(records)


@dg.op(
    description="Delete what is older than each table's retention (CARPARK_RETENTION_*_DAYS), "
    "in batches; never sessions. Reports the rows deleted per table."
)
def delete_expired_rows(
    context: dg.OpExecutionContext,
    postgres: PostgresResource,
    retention: RetentionResource,
    carpark_config: CarparkConfigResource,
) -> dg.Output[dict]:
    now = datetime.now(UTC)
    outcome = apply_retention(
        postgres,
        retention.days,
        now,
        lateness=carpark_config.load().lateness,
        rows_per_batch=retention.batch_rows,
        log=context.log.info,
    )
    runs = delete_old_runs(context.instance, retention.dagster_runs_days, now)
    context.log.info(f"dagster runs: {runs} deleted")
    deleted = {**outcome.deleted, "dagster_runs": runs}
    metadata: dict = {f"deleted_{name}": count for name, count in deleted.items()}
    metadata["days_kept"] = dg.MetadataValue.json(retention.days)
    if outcome.replayable_from is not None:
        metadata["replayable_from"] = outcome.replayable_from.isoformat()
    return dg.Output(deleted, metadata=metadata)


@dg.job(
    description="Daily retention: deletes old gate events, quarantine, earnings history, run "
    "failures, stale exit-log entries and old Dagster runs, in batches. Never sessions.",
    executor_def=dg.in_process_executor,
)
def carpark_retention():
    delete_expired_rows()


daily_retention = dg.ScheduleDefinition(
    name="daily_retention",
    job=carpark_retention,
    cron_schedule=RETENTION_CRON,
    execution_timezone=CARPARK_TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
