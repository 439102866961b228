"""The schedule, the first-tick and inbox sensors (what a tick processes is tested with the time
model: carpark_dagster_tests/domain/test_windows.py and integration/test_time_model.py)."""

from datetime import UTC, datetime

import dagster as dg

from carpark_dagster.defs.automation.schedules import every_five_minutes
from carpark_dagster.defs.automation.sensors import (
    FIRST_TICK_RUN_KEY,
    first_tick_request,
    first_tick_sensor,
    inbox_request,
    inbox_sensor,
)
from carpark_dagster.resources import InboxResource

STARTED = dg.DagsterRunStatus.STARTED


def test_a_fresh_instance_gets_one_tick_at_once():
    with dg.instance_for_test() as instance:
        result = first_tick_sensor(dg.build_sensor_context(instance=instance))
    assert isinstance(result, dg.RunRequest)
    assert result.run_key == FIRST_TICK_RUN_KEY


def test_once_data_exists_the_sensor_stays_quiet():
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("carpark_table"))
        assert isinstance(first_tick_request(instance), dg.SkipReason)
        context = dg.build_sensor_context(instance=instance)
        assert isinstance(first_tick_sensor(context), dg.SkipReason)


def test_the_schedule_ticks_every_five_minutes_in_carpark_time_with_no_partitions():
    assert every_five_minutes.cron_schedule == "*/5 * * * *"
    assert every_five_minutes.execution_timezone == "Asia/Singapore"
    context = dg.build_schedule_context(
        scheduled_execution_time=datetime(2026, 11, 27, 1, 5, tzinfo=UTC)
    )
    [request] = every_five_minutes.evaluate_tick(context).run_requests
    assert request.partition_key is None  # the tick works out what is due itself


def test_the_inbox_sensor_launches_one_landing_run_at_a_time(tmp_path):
    inbox = InboxResource(source="both", directory=str(tmp_path), settle_seconds=0)
    with dg.instance_for_test() as instance:
        assert "no complete gate files" in inbox_request(instance, inbox, 1e10).skip_message
        (tmp_path / "gates.csv").write_text("x")
        request = inbox_request(instance, inbox, 1e10)
        assert isinstance(request, dg.RunRequest)
        assert request.run_key is None  # a failed landing is followed by another
        assert request.tags["carpark/inbox_files"] == "1"
        # A landing run on its way: no second one.
        instance.add_run(dg.DagsterRun(job_name="carpark_inbox", run_id="a" * 36, status=STARTED))
        skip = inbox_request(instance, inbox, 1e10)
        assert skip.skip_message == "1 files wait for the landing run in progress"
        # Settled files only: a file modified just now waits.
        assert isinstance(
            inbox_request(instance, inbox.model_copy(update={"settle_seconds": 1e12}), 1e10),
            dg.SkipReason,
        )


def test_the_inbox_sensor_stays_quiet_when_the_inbox_is_not_a_source(tmp_path):
    (tmp_path / "gates.csv").write_text("x")
    inbox = InboxResource(source="simulator", directory=str(tmp_path), settle_seconds=0)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"inbox": inbox})
        result = inbox_sensor(context)
    assert result.skip_message == "CARPARK_SOURCE=simulator: the inbox is not read"
