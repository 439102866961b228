"""Versioned SQL migrations, applied in order, once, under an advisory lock.

Each file in `carpark_dagster/sql/migrations` is one version, applied in one transaction and
recorded in `public.carpark_schema_migrations`. A migration that would destroy data (DROP of a
table, column or schema, TRUNCATE, DELETE) is refused unless the caller allows it explicitly:
the pipeline never does; `carpark migrate --allow-drop` does.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources as importlib_resources

import psycopg

from carpark_dagster.resources.locks import AdvisoryLock

log = logging.getLogger(__name__)

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS public.carpark_schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


# What destroys data: dropping a table, schema or materialised view; dropping a column, with or
# without the word COLUMN (`ALTER TABLE t DROP c`; but not DROP CONSTRAINT, DEFAULT, NOT NULL,
# EXPRESSION or IDENTITY, which change no stored value); TRUNCATE; DELETE.
_DESTRUCTIVE = re.compile(
    r"\bDROP\s+(TABLE|COLUMN|SCHEMA|MATERIALIZED\s+VIEW)\b"
    r"|\bALTER\s+TABLE\b[^;]*?\bDROP\s+(?!(CONSTRAINT|DEFAULT|NOT\s+NULL|EXPRESSION|IDENTITY)\b)"
    r"|\bTRUNCATE\b|\bDELETE\s+FROM\b",
    re.I,
)
_SQL_COMMENT = re.compile(r"--[^\n]*")


class DestructiveMigration(RuntimeError):
    """A pending migration would destroy data and was not explicitly allowed."""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def destroys_data(self) -> bool:
        return bool(_DESTRUCTIVE.search(_SQL_COMMENT.sub("", self.sql)))


def bundled_migrations() -> list[Migration]:
    folder = importlib_resources.files("carpark_dagster") / "sql" / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(version=f.name.removesuffix(".sql"), sql=f.read_text()) for f in files]


# Read-only: whether the table exists (NULL: not yet), so that checking needs no CREATE.
MIGRATIONS_TABLE_EXISTS = "SELECT to_regclass('public.carpark_schema_migrations') IS NOT NULL"
SELECT_APPLIED_VERSIONS = "SELECT version FROM public.carpark_schema_migrations"


class MigrationsNotPermitted(RuntimeError):
    """Migrations are pending and the connected role may not apply them."""


def applied_versions(conn: psycopg.Connection) -> set[str]:
    """The versions applied, read without any DDL: a database that never had a migration has
    none. A role that may not read the table is told what to do, once, clearly."""
    if not conn.execute(MIGRATIONS_TABLE_EXISTS).fetchone()[0]:
        return set()
    try:
        with conn.transaction():
            return {row[0] for row in conn.execute(SELECT_APPLIED_VERSIONS)}
    except psycopg.errors.InsufficientPrivilege:
        raise MigrationsNotPermitted(
            "this role may not read public.carpark_schema_migrations: give it carpark_pipeline "
            "(migration 0003_roles) or connect as the database owner"
        ) from None


def pending_migrations(conn: psycopg.Connection, migrations: list[Migration]) -> list[Migration]:
    done = applied_versions(conn)
    return [m for m in migrations if m.version not in done]


def apply_migrations(
    conn: psycopg.Connection, migrations: list[Migration], allow_drop: bool = False
) -> list[str]:
    """Apply what is missing; return the versions applied. Re-running is a no-op.

    When nothing is pending (every run after the first), this only reads: no DDL, no lock, so
    a runtime role without CREATE on any schema (carpark_pipeline) passes. DDL runs only when
    something is pending, and then needs the owner role (`carpark migrate`)."""
    if not pending_migrations(conn, migrations):
        return []
    try:
        with conn.transaction():
            applied_now = _apply_pending(conn, migrations, allow_drop)
    except psycopg.errors.InsufficientPrivilege:
        pending = ", ".join(m.version for m in pending_migrations(conn, migrations))
        raise MigrationsNotPermitted(
            f"migration(s) {pending} are pending and this role may not apply them; "
            "run `carpark migrate` as the database owner"
        ) from None
    return applied_now


def _apply_pending(
    conn: psycopg.Connection, migrations: list[Migration], allow_drop: bool
) -> list[str]:
    applied_now: list[str] = []
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (AdvisoryLock.MIGRATIONS,))
    conn.execute(CREATE_MIGRATIONS_TABLE)
    pending = pending_migrations(conn, migrations)
    refused = [m.version for m in pending if m.destroys_data and not allow_drop]
    if refused:
        raise DestructiveMigration(
            f"migration(s) {', '.join(refused)} would destroy data; nothing was applied. "
            "Back up, then run: carpark migrate --allow-drop"
        )
    for migration in pending:
        log.info("applying migration %s", migration.version)
        conn.execute(migration.sql)
        conn.execute(
            "INSERT INTO public.carpark_schema_migrations (version) VALUES (%s)",
            (migration.version,),
        )
        applied_now.append(migration.version)
    return applied_now
