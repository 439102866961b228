"""Least privilege, for real: the owner migrates once; a login role that has only
`carpark_pipeline` (no CREATE on any schema, nor on the database) then runs ticks, lands inbox
files, runs the checks job and the retention, and records run failures; a `carpark_reader`
session reads sessions and the lab's view and may write nothing."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from carpark_dagster.definitions import defs
from carpark_dagster.domain.alerts import describe_failure
from carpark_dagster.domain.inbox import InboxRules
from carpark_dagster.lib.inbox import LANDED, land_file
from carpark_dagster.lib.retention import apply_retention
from carpark_dagster.resources import CheckLimitsResource, PostgresResource
from carpark_dagster.resources.migrations import (
    CREATE_MIGRATIONS_TABLE,
    MigrationsNotPermitted,
    bundled_migrations,
)
from carpark_dagster.resources.retention import RETENTION_RULES
from carpark_dagster_tests.integration.conftest import database_of, migrated
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline

FIRST_TICK = "2026-11-27T09:00+08:00"
NEXT_TICK = "2026-11-27T09:05+08:00"
# Every privilege a role could use to create something in a database.
CREATE_ANYWHERE = """
SELECT n.nspname FROM pg_namespace n
WHERE has_schema_privilege(current_user, n.oid, 'CREATE')
UNION ALL
SELECT '<database>' WHERE has_database_privilege(current_user, current_database(), 'CREATE')
"""


@pytest.fixture
def login_role(postgres_dsn: str) -> Iterator[Callable[[str], str]]:
    """Makes login roles IN ROLE `group` (a DSN each, to the test's database); dropped after."""
    made: list[str] = []

    def make(group: str) -> str:
        name = f"carpark_test_{group.removeprefix('carpark_')}_{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{password}' IN ROLE {group}")
        made.append(name)
        return make_conninfo(postgres_dsn, user=name, password=password)

    yield make
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        for name in made:
            admin.execute(f"DROP ROLE {name}")


def _one(dsn: str, sql: str, params=None):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()


def _rows(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def test_the_pipeline_role_has_no_create_and_runs_two_ticks(
    postgres_dsn, login_role, search, tmp_path
):
    migrated(postgres_dsn)  # the owner migrates, once
    pipeline_dsn = login_role("carpark_pipeline")
    assert _rows(pipeline_dsn, CREATE_ANYWHERE) == []
    # The statement every tick used to run is refused to this role.
    with (
        psycopg.connect(pipeline_dsn, autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute(CREATE_MIGRATIONS_TABLE)

    runtime = PostgresResource(dsn=pipeline_dsn)
    assert runtime.migrate() == []  # nothing pending: read only
    resources = pipeline_resources(runtime, search, tmp_path, seed=42)
    for at in (FIRST_TICK, NEXT_TICK):
        result = run_pipeline(resources, at)
        assert result.success
        assert [c.check_name for c in result.get_asset_check_evaluations() if not c.passed] == []
    closed = _one(
        postgres_dsn, "SELECT count(*) FROM carpark.parking_sessions WHERE exit_time IS NOT NULL"
    )[0]
    assert closed > 100
    user = _one(pipeline_dsn, "SELECT current_user")[0]
    assert user.startswith("carpark_test_pipeline_")


def test_the_pipeline_role_lands_files_checks_retains_and_records_failures(
    postgres_dsn, login_role, search, tmp_path
):
    migrated(postgres_dsn)
    runtime = PostgresResource(dsn=login_role("carpark_pipeline"))
    resources = pipeline_resources(runtime, search, tmp_path, seed=7)
    assert run_pipeline(resources, FIRST_TICK).success

    gates = tmp_path / "gates.csv"
    gates.write_text(
        "event_id,plate,location_id,event_type,event_time\n"
        "lp-1,SBS1A,Park0,entry,2026-11-27T09:01:00+08:00\n"
        "lp-2,SBS1A,Park0,exit,2026-11-27T09:03:00+08:00\n"
        "lp-3,SBS2B,Nowhere,entry,2026-11-27T09:02:00+08:00\n"
    )
    rules = InboxRules(known_locations=frozenset({"Park0", "Park1"}))
    outcome = land_file(runtime, gates, rules, datetime(2026, 11, 27, 1, 4, tzinfo=UTC))
    assert (outcome.status, outcome.events, outcome.quarantined) == (LANDED, 2, 1)

    checks = (
        defs()
        .resolve_job_def("carpark_checks")
        .execute_in_process(
            resources={**resources, "check_limits": CheckLimitsResource()}, raise_on_error=False
        )
    )
    assert checks.success
    assert all(e.passed for e in checks.get_asset_check_evaluations())

    days = {rule.name: 1 for rule in RETENTION_RULES}
    retained = apply_retention(
        runtime, days, datetime(2026, 12, 30, tzinfo=UTC), timedelta(hours=24), rows_per_batch=500
    )
    assert retained.deleted["gate_events"] > 0

    monitor = PostgresResource(dsn=runtime.dsn, writer=False)
    failure = describe_failure(
        "run-lp", "carpark_tick", ["es_index"], "RuntimeError", "down", datetime.now(UTC), ""
    )
    monitor.record_run_failure(failure)
    assert _one(postgres_dsn, "SELECT job_name FROM carpark.run_failures")[0] == "carpark_tick"


def test_the_pipeline_role_is_told_to_migrate_as_the_owner(postgres_dsn, login_role):
    owner = migrated(postgres_dsn)
    last = bundled_migrations()[-1].version
    with owner.connect() as conn:
        conn.execute("DELETE FROM public.carpark_schema_migrations WHERE version = %s", (last,))
    runtime = PostgresResource(dsn=login_role("carpark_pipeline"))
    with pytest.raises(MigrationsNotPermitted, match=f"{last} are pending.*carpark migrate"):
        runtime.migrate()


def test_on_a_database_never_migrated_the_pipeline_role_creates_nothing(postgres_dsn, login_role):
    runtime = PostgresResource(dsn=login_role("carpark_pipeline"))
    first = bundled_migrations()[0].version
    with pytest.raises(MigrationsNotPermitted, match=f"{first}, .* are pending"):
        runtime.migrate()
    assert _one(postgres_dsn, "SELECT to_regclass('public.carpark_schema_migrations')") == (None,)


def test_a_role_without_the_groups_cannot_read_the_migrations(postgres_dsn, login_role):
    migrated(postgres_dsn)
    group = f"carpark_test_nobody_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {group} NOLOGIN")
    try:
        stranger = login_role(group)
        with pytest.raises(MigrationsNotPermitted, match="may not read"):
            PostgresResource(dsn=stranger).migrate()
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {group}")  # its member keeps nothing of it


WRITES = [
    "INSERT INTO carpark.parking_sessions (session_id, plate, location_id, entry_event_id,"
    " tariff) VALUES ('r-1', 'SBS1A', 'Park0', 'r-1', 'default')",
    "UPDATE carpark.parking_sessions SET charge_cents = 0",
    "DELETE FROM carpark.parking_sessions",
    "DELETE FROM carpark.gate_events",
    "TRUNCATE carpark.quarantine",
    "CREATE TABLE carpark.mine (x int)",
    "CREATE TABLE public.mine (x int)",
]


def test_the_reader_reads_and_may_not_write(postgres_dsn, login_role, search, tmp_path):
    migrated(postgres_dsn)
    resources = pipeline_resources(PostgresResource(dsn=postgres_dsn), search, tmp_path, seed=42)
    assert run_pipeline(resources, FIRST_TICK).success
    reader = login_role("carpark_reader")
    assert database_of(reader) == database_of(postgres_dsn)
    sessions = _one(reader, "SELECT count(*) FROM carpark.parking_sessions")[0]
    lab_rows = _one(reader, 'SELECT count(*) FROM public."CarPark"')[0]
    assert sessions > 100
    assert lab_rows == _one(postgres_dsn, 'SELECT count(*) FROM public."CarPark"')[0] > 100
    refused = []
    with psycopg.connect(reader, autocommit=True) as conn:
        for statement in WRITES:
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                conn.execute(statement)
            refused.append(str(caught.value).split(" for ")[0])
    assert refused == ["permission denied"] * len(WRITES)
    assert _one(postgres_dsn, "SELECT count(*) FROM carpark.parking_sessions")[0] == sessions
    assert _one(postgres_dsn, "SELECT sum(charge_cents) > 0 FROM carpark.parking_sessions")[0]
