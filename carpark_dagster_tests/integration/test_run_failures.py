"""The run-failure sensor on a real Dagster instance (a temporary directory) after real failed
runs: rows in PostgreSQL, the payload at a real local webhook, retries, a webhook that never
answers, no secret anywhere, and each failure once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import psycopg
import pytest

from carpark_dagster.defs.automation.alerts import run_failure_alerts
from carpark_dagster.defs.automation.jobs import carpark_tick_job
from carpark_dagster.defs.tick import assets
from carpark_dagster.resources import ElasticsearchResource, PostgresResource, TickClockResource
from carpark_dagster.resources.alerts import AlertWebhookResource
from carpark_dagster_tests.integration.pipeline_runs import START, pipeline_resources
from carpark_dagster_tests.webhook_server import HANG, webhook

SECRET = "hunter2-s3cret"
UI = "http://127.0.0.1:3000"


@dg.op
def send_to_the_warehouse():
    raise RuntimeError(
        f"could not reach postgresql://carpark:{SECRET}@db.internal:5432/carpark "
        f"(password={SECRET})\nTraceback line that is not part of the summary"
    )


@dg.op
def fine():
    return 1


@dg.job
def nightly_export():
    send_to_the_warehouse()
    fine()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


class SensorTicks:
    """Evaluates the real sensor as the daemon does: tick after tick, carrying the cursor."""

    def __init__(self, instance: dg.DagsterInstance, postgres: PostgresResource):
        self.instance = instance
        self.postgres = postgres
        self.cursor: str | None = None
        self.defs = dg.Definitions(jobs=[nightly_export], sensors=[run_failure_alerts])

    def tick(self, webhook_url: str | None = None, **webhook_options) -> None:
        monitor = PostgresResource(dsn=self.postgres.dsn, writer=False)
        alerts = AlertWebhookResource(
            url=webhook_url, ui_url=UI, **{"backoff_s": 0.05, **webhook_options}
        )
        with dg.build_sensor_context(
            instance=self.instance,
            definitions=self.defs,
            cursor=self.cursor,
            resources={"postgres_monitor": monitor, "alert_webhook": alerts},
        ) as context:
            data = run_failure_alerts.evaluate_tick(context)
        self.cursor = data.cursor


def _half_hour_of_ticks(resources: dict) -> dict:
    """The tick clock pinned half an hour after the start: six windows due."""
    return {**resources, "tick_clock": TickClockResource(start=START, now="2026-11-27T07:30+08:00")}


def _fail(instance: dg.DagsterInstance) -> str:
    result = nightly_export.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result.run_id


def _a_failed_tick_alerted(
    instance: dg.DagsterInstance, defs: dg.Definitions, postgres: PostgresResource
) -> tuple[dg.ExecuteInProcessResult, object]:
    """The sensor's first tick, a tick of `defs` that fails, the sensor's next tick posting to
    a local webhook: the run's result and the webhook."""
    sensor = SensorTicks(instance, postgres)
    sensor.defs = defs
    sensor.tick()
    result = defs.resolve_job_def("carpark_tick").execute_in_process(
        instance=instance, raise_on_error=False
    )
    assert not result.success
    with webhook(200) as hook:
        sensor.tick(hook.url)
    return result, hook


def _rows(postgres: PostgresResource) -> list[dict]:
    with psycopg.connect(postgres.dsn, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM carpark.run_failures ORDER BY failed_at").fetchall()


def test_a_failed_run_is_recorded_and_posted_without_secrets(instance, postgres):
    sensor = SensorTicks(instance, postgres)
    sensor.tick()  # the first tick starts the cursor at the present
    run_id = _fail(instance)
    with webhook(200) as hook:
        sensor.tick(hook.url)
    [row] = _rows(postgres)
    assert row["run_id"] == run_id
    assert row["job_name"] == "nightly_export"
    assert row["failed_steps"] == ["send_to_the_warehouse"]
    assert row["error_summary"] == (
        "RuntimeError: could not reach postgresql://db.internal:5432/carpark (password=***"
    )
    assert row["run_url"] == f"{UI}/runs/{run_id}"
    run_end = instance.get_run_record_by_id(run_id).end_time
    assert row["failed_at"].timestamp() == pytest.approx(run_end, abs=0.01)
    assert (row["alert_status"], row["alert_attempts"]) == ("delivered", 1)
    assert [payload["run_id"] for payload in hook.received] == [run_id]
    payload = hook.received[0]
    assert payload["failed_steps"] == ["send_to_the_warehouse"]
    assert payload["error_summary"] == row["error_summary"]
    assert payload["run_url"] == row["run_url"]
    everything_stored = json.dumps(row, default=str)
    for text in (hook.raw[0].decode(), everything_stored):
        assert SECRET not in text
        assert postgres.dsn not in text


def test_a_retry_delivers_after_failed_attempts(instance, postgres):
    sensor = SensorTicks(instance, postgres)
    sensor.tick()
    run_id = _fail(instance)
    with webhook(500, 502, 200) as hook:
        sensor.tick(hook.url, attempts=3)
    [row] = _rows(postgres)
    assert (row["run_id"], row["alert_status"], row["alert_attempts"]) == (run_id, "delivered", 3)
    assert len(hook.received) == 3


def test_a_webhook_that_never_answers_is_recorded_and_the_sensor_carries_on(instance, postgres):
    sensor = SensorTicks(instance, postgres)
    sensor.tick()
    first = _fail(instance)
    with webhook(HANG, hang_s=2.0) as hook:
        sensor.tick(hook.url, timeout_s=0.3, attempts=2)  # does not raise
        assert len(hook.received) == 2
    [row] = _rows(postgres)
    assert (row["run_id"], row["alert_status"], row["alert_attempts"]) == (first, "failed", 2)
    assert row["alert_detail"].startswith("no answer within 0.3s from http://127.0.0.1:")
    assert "T0KEN" not in row["alert_detail"]
    # the next failure still goes out once the webhook is back
    second = _fail(instance)
    with webhook(200) as hook:
        sensor.tick(hook.url)
    assert [payload["run_id"] for payload in hook.received] == [second]
    statuses = {row["run_id"]: row["alert_status"] for row in _rows(postgres)}
    assert statuses == {first: "failed", second: "delivered"}


def test_each_failure_is_recorded_and_posted_once(instance, postgres):
    sensor = SensorTicks(instance, postgres)
    sensor.tick()
    run_id = _fail(instance)
    started_from = sensor.cursor
    with webhook(200) as hook:
        sensor.tick(hook.url)
        sensor.cursor = started_from  # a tick cut short after recording: seen again
        sensor.tick(hook.url)
        sensor.tick(hook.url)
    assert [row["run_id"] for row in _rows(postgres)] == [run_id]
    assert len(hook.received) == 1


def test_without_a_webhook_failures_are_recorded_only(instance, postgres):
    sensor = SensorTicks(instance, postgres)
    sensor.tick()
    _fail(instance)
    sensor.tick(None)
    [row] = _rows(postgres)
    assert (row["alert_status"], row["alert_attempts"]) == ("not_configured", 0)


def test_a_failed_tick_is_recorded_in_a_database_not_migrated_yet(instance, postgres_dsn, tmp_path):
    """The real tick job fails (its PostgreSQL is unreachable, and the DSN holds a password);
    the sensor records it in a database no run has migrated yet (it creates the table)."""
    unreachable = PostgresResource(
        dsn=f"postgresql://carpark:{SECRET}@127.0.0.1:9/carpark", connect_timeout_s=2
    )
    search = ElasticsearchResource(url=f"http://elastic:{SECRET}@127.0.0.1:9")
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        jobs=[carpark_tick_job],
        sensors=[run_failure_alerts],
        resources=_half_hour_of_ticks(pipeline_resources(unreachable, search, tmp_path, seed=3)),
    )
    result, hook = _a_failed_tick_alerted(instance, defs, PostgresResource(dsn=postgres_dsn))
    [row] = _rows(PostgresResource(dsn=postgres_dsn))
    assert (row["run_id"], row["job_name"]) == (result.run_id, "carpark_tick")
    assert row["failed_steps"] == []  # the run failed setting up its resources, before any step
    assert row["error_summary"].startswith(
        "PostgresUnavailable: cannot connect to PostgreSQL at 127.0.0.1:9/carpark"
    )
    assert hook.received[0]["run_id"] == result.run_id
    assert hook.received[0]["failed_steps"] == []
    assert SECRET not in hook.raw[0].decode()


def test_a_tick_whose_search_engine_is_down_is_recorded_with_its_failed_step(
    instance, postgres, tmp_path
):
    """PostgreSQL is up, the search engine is not (its URL holds a password): es_index fails,
    location_earnings does not run; the row names es_index and the engine without the
    password."""
    search = ElasticsearchResource(url=f"http://elastic:{SECRET}@127.0.0.1:9", max_retries=0)
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        jobs=[carpark_tick_job],
        sensors=[run_failure_alerts],
        resources=_half_hour_of_ticks(pipeline_resources(postgres, search, tmp_path, seed=3)),
    )
    result, hook = _a_failed_tick_alerted(instance, defs, postgres)
    [row] = _rows(postgres)
    assert (row["run_id"], row["failed_steps"]) == (result.run_id, ["es_index"])
    assert row["error_summary"].startswith(
        "Failure: search sync failed: search engine at http://127.0.0.1:9 is unreachable"
    )
    assert hook.received[0]["failed_steps"] == ["es_index"]
    assert SECRET not in hook.raw[0].decode()
    assert SECRET not in json.dumps(row, default=str)
