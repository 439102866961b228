"""The search engine goes away in the middle of a tick and comes back: PostgreSQL keeps the
tick, the failure is recorded and posted to a local webhook, and the next tick brings the
index level with PostgreSQL again. Real PostgreSQL, real OpenSearch behind a relay that is cut
right after `carpark_table` committed (for the client, exactly the engine going down)."""

from __future__ import annotations

from urllib.parse import urlsplit

import dagster as dg

from carpark_dagster.defs.automation.jobs import carpark_tick_job
from carpark_dagster.defs.tick import assets
from carpark_dagster.domain.earnings import totals_differences
from carpark_dagster.domain.windows import parse_moment
from carpark_dagster.resources import ElasticsearchResource, TickClockResource
from carpark_dagster_tests.integration.outage import Relay
from carpark_dagster_tests.integration.pipeline_runs import START, pipeline_resources
from carpark_dagster_tests.integration.test_run_failures import SensorTicks
from carpark_dagster_tests.webhook_server import webhook


def test_the_search_engine_down_mid_run_then_back_converges_and_is_alerted(
    postgres, search, tmp_path
):
    engine = urlsplit(search.url)
    relay = Relay(engine.hostname, engine.port)
    relay.up()
    through_relay = ElasticsearchResource(
        url=relay.url, alias=search.alias, legacy_alias=None, max_retries=0, request_timeout_s=5
    )
    resources = pipeline_resources(postgres, through_relay, tmp_path, seed=17)

    armed = [True]  # the first tick only

    @dg.success_hook
    def engine_goes_down_after_postgres(context: dg.HookContext) -> None:
        if context.op.name == "carpark_table" and armed:
            armed.clear()
            relay.down()

    tick_job = dg.define_asset_job(
        carpark_tick_job.name,
        selection=carpark_tick_job.selection,
        executor_def=dg.in_process_executor,
        hooks={engine_goes_down_after_postgres},
    )

    def tick(at: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        clock = TickClockResource(start=START, now=at)
        defs = dg.Definitions(
            assets=dg.load_assets_from_modules([assets]),
            jobs=[tick_job],
            resources={**resources, "tick_clock": clock},
        )
        return defs.resolve_job_def(tick_job.name).execute_in_process(
            instance=instance, raise_on_error=False
        )

    def index_and_postgres_differ() -> list[dict]:
        with search.session_index() as index:
            found = []
            if index.current_index() is not None:  # none before a sync got through
                index.refresh()
                found = index.totals_by_location()
        return totals_differences(postgres.closed_totals_by_location(), found)

    with dg.instance_for_test() as instance:
        sensor = SensorTicks(instance, postgres)
        sensor.defs = dg.Definitions(
            assets=dg.load_assets_from_modules([assets]), jobs=[tick_job], resources=resources
        )
        sensor.tick()

        failed = tick("2026-11-27T09:00+08:00", instance)
        assert not failed.success
        steps = {e.step_key: e.event_type_value for e in failed.all_events if e.is_step_event}
        assert steps["carpark_table"] == "STEP_SUCCESS"
        assert steps["es_index"] == "STEP_FAILURE"
        assert "location_earnings" not in steps
        # PostgreSQL has the whole tick; the index has nothing of it.
        progress = postgres.tick_progress()
        assert progress.processed_until == parse_moment("2026-11-27T09:00+08:00", "t")
        closed = sum(t.sessions for t in postgres.closed_totals_by_location())
        assert closed > 100
        assert index_and_postgres_differ()

        with webhook(200) as hook:
            sensor.tick(hook.url)
        [alert] = hook.received
        assert alert["run_id"] == failed.run_id
        assert alert["job_name"] == "carpark_tick"
        assert alert["failed_steps"] == ["es_index"]
        assert alert["run_url"] == f"http://127.0.0.1:3000/runs/{failed.run_id}"
        with postgres.connect() as conn:
            recorded = conn.execute(
                "SELECT run_id, failed_steps, alert_status FROM carpark.run_failures"
            ).fetchall()
        assert [(r[0], r[1]) for r in recorded] == [(failed.run_id, ["es_index"])]
        assert recorded[0][2] == "delivered"
        assert "unreachable" in alert["error_summary"]

        # The engine is back; the next tick catches the index up from the watermark.
        relay.up()
        recovered = tick("2026-11-27T09:05+08:00", instance)
        relay.down()
    assert recovered.success
    assert postgres.tick_progress().processed_until == parse_moment("2026-11-27T09:05+08:00", "t")
    assert index_and_postgres_differ() == []
    with search.session_index() as index:
        index.refresh()
        documents = sum(t.sessions for t in index.totals_by_location())
    assert documents == sum(t.sessions for t in postgres.closed_totals_by_location())
