"""The Docker deployment's Dagster instance (ops/docker/dagster.yaml) loads for real: its
PostgreSQL storage in a fresh database of the test server, its Docker run launcher, freshness
on and the tick retention set (the local instance: carpark_dagster_tests/test_deployment.py)."""

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
