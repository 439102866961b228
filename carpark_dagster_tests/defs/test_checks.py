"""The hourly checks schedule (the checks themselves run against the real services in
integration/test_checks_job.py)."""

from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.defs.checks.schedules import hourly_checks
from carpark_dagster.settings import build_resources


def test_the_checks_run_hourly_in_carpark_time_and_are_on_by_default():
    assert hourly_checks.cron_schedule == "2 * * * *"
    assert hourly_checks.execution_timezone == "Asia/Singapore"
    assert hourly_checks.default_status == dg.DefaultScheduleStatus.RUNNING
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 27, 1, 2, tzinfo=UTC)
    )
    [request] = hourly_checks.evaluate_tick(context).run_requests
    assert request.job_name in (None, "carpark_checks")


def test_the_quarantine_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("CARPARK_QUARANTINE_MAX_PER_HOUR", raising=False)
    assert build_resources(resolve=True)["check_limits"].quarantine_max_per_hour == 1000
    monkeypatch.setenv("CARPARK_QUARANTINE_MAX_PER_HOUR", "250")
    assert build_resources(resolve=True)["check_limits"].quarantine_max_per_hour == 250
