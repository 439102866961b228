"""Versioned SQL migrations, applied in order, once, under an advisory lock."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib import resources as importlib_resources

import psycopg

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same for every process that migrates.
MIGRATION_LOCK_ID = 0x0CA7_9A4C

CREATE_MIGRATIONS_TABLE = """
CREATE TABLE IF NOT EXISTS public.carpark_schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str


def bundled_migrations() -> list[Migration]:
    folder = importlib_resources.files("carpark_dagster") / "sql" / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [Migration(version=f.name.removesuffix(".sql"), sql=f.read_text()) for f in files]


def apply_migrations(conn: psycopg.Connection, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied. Re-running is a no-op."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        conn.execute(CREATE_MIGRATIONS_TABLE)
        done = {
            row[0] for row in conn.execute("SELECT version FROM public.carpark_schema_migrations")
        }
        for migration in migrations:
            if migration.version in done:
                continue
            log.info("applying migration %s", migration.version)
            conn.execute(migration.sql)
            conn.execute(
                "INSERT INTO public.carpark_schema_migrations (version) VALUES (%s)",
                (migration.version,),
            )
            applied_now.append(migration.version)
    return applied_now
