"""The Docker deployment's Dagster instance (ops/docker/dagster.yaml) loads for real: its
PostgreSQL storage in a fresh database of the test server, its Docker run launcher, freshness
on and the tick retention set (the local instance: carpark_dagster_tests/test_deployment.py);
and a run stores its events there."""

from pathlib import Path

import dagster as dg
import yaml
from psycopg.conninfo import conninfo_to_dict

from carpark_dagster_tests.test_deployment import EXPECTED_INSTANCE_SETTINGS, instance_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_deployment_instance_loads_with_freshness_and_tick_retention(
    postgres_dsn, tmp_path, monkeypatch
):
    server = conninfo_to_dict(postgres_dsn)
    config = yaml.safe_load((ROOT / "ops/docker/dagster.yaml").read_text())
    # Compose reaches PostgreSQL on 5432; the test server listens elsewhere. The three
    # storages share one block (a YAML anchor), so this sets the port of all of them.
    config["run_storage"]["config"]["postgres_db"]["port"] = int(server.get("port", 5432))
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", server.get("host", "127.0.0.1"))
    monkeypatch.setenv("DAGSTER_POSTGRES_USER", server.get("user", "carpark"))
    monkeypatch.setenv("DAGSTER_POSTGRES_PASSWORD", server.get("password", "unused"))
    monkeypatch.setenv("DAGSTER_POSTGRES_DB", server["dbname"])
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_launcher).__name__ == "DockerRunLauncher"
        assert instance_settings(instance) == EXPECTED_INSTANCE_SETTINGS
        assert instance.get_runs() == []  # its tables were created in the fresh database


def test_a_run_stores_its_events_in_the_deployment_instance(postgres_dsn, tmp_path, monkeypatch):
    """Every event a run writes goes through the event log's NOTIFY. SQLAlchemy 2.1 opens a
    plain `postgresql://` URL with psycopg 3, which sends NOTIFY's channel payload as a
    server-side parameter PostgreSQL refuses ("syntax error at or near $1"): the instance
    loaded, and every run failed on its first event. The config names the driver."""
    server = conninfo_to_dict(postgres_dsn)
    config = yaml.safe_load((ROOT / "ops/docker/dagster.yaml").read_text())
    config["event_log_storage"]["config"]["postgres_db"]["port"] = int(server.get("port", 5432))
    del config["run_launcher"]  # a run in this process; the launcher is tested above
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_POSTGRES_HOST", server.get("host", "127.0.0.1"))
    monkeypatch.setenv("DAGSTER_POSTGRES_USER", server.get("user", "carpark"))
    monkeypatch.setenv("DAGSTER_POSTGRES_PASSWORD", server.get("password", "unused"))
    monkeypatch.setenv("DAGSTER_POSTGRES_DB", server["dbname"])

    @dg.asset
    def answer() -> int:
        return 42

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = dg.materialize([answer], instance=instance)
        assert result.success
        assert result.output_for_node("answer") == 42
        stored = {
            e.dagster_event.event_type_value
            for e in instance.all_logs(result.run_id)
            if e.dagster_event is not None
        }
        kinds = (dg.DagsterEventType.RUN_START, dg.DagsterEventType.RUN_SUCCESS)
        assert {kind.value for kind in kinds} | {"ASSET_MATERIALIZATION"} <= stored
        assert instance.get_latest_materialization_event(dg.AssetKey("answer")) is not None
