"""Fixtures for tests against the real services that `make up` starts (`make test` starts
and stops them itself). Every test in this folder is marked `services`; `make test-fast` runs
everything else.

Every test that touches PostgreSQL gets a database of its own, and every test that touches the
search engine an alias of its own, so tests never see each other's data or the developer's.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.postgres import DEFAULT_DSN
from carpark_dagster.resources.search import DEFAULT_URL

BASE_DSN = os.environ.get("CARPARK_POSTGRES_DSN") or DEFAULT_DSN
SEARCH_URL = os.environ.get("CARPARK_ES_URL") or DEFAULT_URL
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.services)


@contextmanager
def databases() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases (a DSN each), all dropped at the end of the block."""
    names = []

    def create() -> str:
        name = f"carpark_test_{uuid.uuid4().hex[:12]}"
        try:
            admin = psycopg.connect(BASE_DSN, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            # The DSN carries the cluster's password: name the server only.
            where = conninfo_to_dict(BASE_DSN)
            pytest.fail(
                f"PostgreSQL is not reachable at {where.get('host')}:{where.get('port')} "
                f"(run `make up`): {type(exc).__name__}"
            )
        with admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return make_conninfo(BASE_DSN, dbname=name)

    try:
        yield create
    finally:
        with psycopg.connect(BASE_DSN, autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases (a DSN each), all dropped after the test."""
    with databases() as create:
        yield create


@pytest.fixture
def postgres_dsn(new_database: Callable[[], str]) -> str:
    """A DSN to a fresh, empty database, dropped after the test."""
    return new_database()


def migrated(dsn: str) -> PostgresResource:
    resource = PostgresResource(dsn=dsn)
    resource.migrate()
    return resource


@pytest.fixture
def postgres(postgres_dsn: str) -> PostgresResource:
    return migrated(postgres_dsn)


@pytest.fixture
def search() -> Iterator[ElasticsearchResource]:
    """The search engine with a test-only alias; its indices and template are deleted after."""
    alias = f"test-{uuid.uuid4().hex[:10]}-sessions"
    resource = ElasticsearchResource(url=SEARCH_URL, alias=alias, legacy_alias=None)
    yield resource
    with resource.session_index() as index:
        index.engine.request("DELETE", f"/{alias}-v*")
        try:
            index.engine.request("DELETE", f"/_index_template/{alias}")
        except EngineError as exc:
            if exc.status != 404:  # a test that never reached the engine made none
                raise


def database_of(dsn: str) -> str:
    return conninfo_to_dict(dsn)["dbname"]
