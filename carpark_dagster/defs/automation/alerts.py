"""The run-failure sensor, on by default: every failed run of the code location is recorded in
`carpark.run_failures` and, when `CARPARK_ALERT_WEBHOOK_URL` is set, posted to it as JSON
(docs/operations.md#run-failure-alerts)."""

from datetime import UTC, datetime
from typing import Any

import dagster as dg

from carpark_dagster.domain.alerts import RunFailure, alert_payload, describe_failure
from carpark_dagster.resources import PostgresResource
from carpark_dagster.resources.alerts import AlertWebhookResource, Delivery


def _innermost(error: Any) -> Any:
    """The error a person can act on (a SerializableErrorInfo, or None): Dagster's wrappers
    name the step, their cause says why."""
    while error is not None and error.cls_name and error.cls_name.startswith("Dagster"):
        if error.cause is None:
            break
        error = error.cause
    return error


def failure_of(context: dg.RunFailureSensorContext, ui_url: str) -> RunFailure:
    """The facts of the failed run: its job, failed steps, the first step's error (else the
    run's), when it failed, its link."""
    run = context.dagster_run
    steps = context.get_step_failure_events()
    error = None
    for event in steps:
        error = _innermost(getattr(event.event_specific_data, "error", None))
        if error is not None:
            break
    if error is None:
        error = _innermost(getattr(context.failure_event.event_specific_data, "error", None))
    record = context.instance.get_run_record_by_id(run.run_id)
    ended = record.end_time if record is not None else None
    return describe_failure(
        run_id=run.run_id,
        job_name=run.job_name,
        failed_steps=[event.step_key for event in steps if event.step_key],
        error_class=error.cls_name if error is not None else None,
        error_message=error.message if error is not None else context.failure_event.message,
        failed_at=datetime.fromtimestamp(ended, UTC) if ended else datetime.now(UTC),
        ui_url=ui_url,
    )


def record_and_alert(
    failure: RunFailure, postgres: PostgresResource, webhook: AlertWebhookResource
) -> Delivery | None:
    """Record the failure (once) and post it unless its alert has been decided already (a
    sensor evaluation that was cut short is seen again: no second post). None: decided."""
    if postgres.record_run_failure(failure) is not None:
        return None
    delivery = webhook.post(alert_payload(failure))
    postgres.record_alert(failure.run_id, delivery.status, delivery.attempts, delivery.detail)
    return delivery


@dg.run_failure_sensor(
    name="run_failure_alerts",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Records every failed run of this code location in carpark.run_failures and "
    "posts it to CARPARK_ALERT_WEBHOOK_URL when set (timeout, retries; no secret in it).",
)
def run_failure_alerts(
    context: dg.RunFailureSensorContext,
    postgres_monitor: PostgresResource,
    alert_webhook: AlertWebhookResource,
) -> None:
    failure = failure_of(context, alert_webhook.ui_url)
    delivery = record_and_alert(failure, postgres_monitor, alert_webhook)
    if delivery is None:
        context.log.info(f"run {failure.run_id} was recorded and alerted before")
    else:
        context.log.info(
            f"run {failure.run_id} of {failure.job_name} recorded; alert {delivery.status} "
            f"after {delivery.attempts} attempt(s): {delivery.detail}"
        )
