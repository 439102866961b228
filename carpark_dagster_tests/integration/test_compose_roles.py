"""The Compose stack's `db_roles` step (ops/docker/postgres-roles.sh), run for real against the
local cluster as its superuser, as the stack runs it as the owner: the pipeline's login can
read and write the carpark schema but make nothing, Dagster's login owns only its database,
a second run changes nothing, and a short password is refused before anything is made."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from carpark_dagster_tests.integration.conftest import BASE_DSN, migrated

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("CARPARK_STATE_DIR") or ROOT / ".state")
SCRIPT = ROOT / "ops" / "docker" / "postgres-roles.sh"


def superuser_env(database: str) -> dict[str, str]:
    password_file = STATE / "secrets" / "postgres.password"
    if not password_file.exists():
        pytest.fail("the local cluster's superuser password is missing (run `make up`)")
    server = conninfo_to_dict(BASE_DSN)
    return {
        **os.environ,
        "PGHOST": server.get("host", "127.0.0.1"),
        "PGPORT": str(server.get("port", 5432)),
        "PGUSER": "postgres",
        "PGPASSWORD": password_file.read_text().strip(),
        "PGDATABASE": database,
    }


@pytest.fixture
def names():
    suffix = uuid.uuid4().hex[:8]
    made = {"app": f"app_{suffix}", "dagster": f"dagster_{suffix}", "db": f"dagster_db_{suffix}"}
    yield made
    env = superuser_env("postgres")
    for statement in (
        f'DROP DATABASE IF EXISTS "{made["db"]}" WITH (FORCE)',
        f'DROP ROLE IF EXISTS "{made["app"]}"',
        f'DROP ROLE IF EXISTS "{made["dagster"]}"',
    ):
        subprocess.run(
            ["psql", "-X", "-q", "-c", statement], env=env, capture_output=True, check=True
        )


def run_script(database: str, names: dict, app_password: str, dagster_password: str):
    env = {
        **superuser_env(database),
        "CARPARK_APP_ROLE": names["app"],
        "DAGSTER_ROLE": names["dagster"],
        "DAGSTER_DB": names["db"],
        "CARPARK_PIPELINE_DB_PASSWORD": app_password,
        "CARPARK_DAGSTER_DB_PASSWORD": dagster_password,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True)


def test_the_logins_work_with_least_privilege_and_a_rerun_changes_nothing(new_database, names):
    dsn = new_database()
    migrated(dsn)
    database = conninfo_to_dict(dsn)["dbname"]
    app_password, dagster_password = uuid.uuid4().hex, uuid.uuid4().hex
    for _ in range(2):
        done = run_script(database, names, app_password, dagster_password)
        assert done.returncode == 0, done.stderr
        assert app_password not in done.stdout + done.stderr

    as_app = make_conninfo(dsn, user=names["app"], password=app_password)
    with psycopg.connect(as_app, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM carpark.parking_sessions").fetchone() == (0,)
        conn.execute("DELETE FROM carpark.quarantine")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE carpark.not_allowed (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.not_allowed (x int)")
        flags = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert flags == (False, False, False)

    as_dagster = make_conninfo(
        dsn, user=names["dagster"], password=dagster_password, dbname=names["db"]
    )
    with psycopg.connect(as_dagster, autocommit=True) as conn:
        conn.execute("CREATE TABLE runs (id int)")  # Dagster makes its own tables
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == (names["dagster"],)
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(make_conninfo(as_app, password="wrong-password"), connect_timeout=5)


def test_a_short_password_is_refused_before_anything_is_made(new_database, names):
    dsn = new_database()
    migrated(dsn)
    done = run_script(conninfo_to_dict(dsn)["dbname"], names, "short", uuid.uuid4().hex)
    assert done.returncode == 1
    assert "CARPARK_PIPELINE_DB_PASSWORD is too short" in done.stderr
    assert "short" not in done.stderr.replace("too short", "")
    with psycopg.connect(BASE_DSN) as conn:
        made = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname IN (%s, %s)",
            (names["app"], names["dagster"]),
        ).fetchone()
    assert made == (0,)
