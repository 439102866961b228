"""Versioned SQL migrations, applied in order, once, under an advisory lock.

Each file in `carpark_dagster/sql/migrations` is one version, applied in one transaction and
recorded in `public.carpark_schema_migrations`. A migration that would destroy data (DROP of a
table, column or schema, TRUNCATE, DELETE) is refused unless the caller allows it explicitly:
the pipeline never does; `carpark-migrate --allow-drop` does.

    python -m carpark_dagster.resources.migrations [--allow-drop] [--status]
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
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


_DESTRUCTIVE = re.compile(r"\b(DROP\s+(TABLE|COLUMN|SCHEMA)|TRUNCATE|DELETE\s+FROM)\b", re.I)
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


def applied_versions(conn: psycopg.Connection) -> set[str]:
    conn.execute(CREATE_MIGRATIONS_TABLE)
    return {row[0] for row in conn.execute("SELECT version FROM public.carpark_schema_migrations")}


def apply_migrations(
    conn: psycopg.Connection, migrations: list[Migration], allow_drop: bool = False
) -> list[str]:
    """Apply what is missing; return the versions applied. Re-running is a no-op."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
        done = applied_versions(conn)
        pending = [m for m in migrations if m.version not in done]
        refused = [m.version for m in pending if m.destroys_data and not allow_drop]
        if refused:
            raise DestructiveMigration(
                f"migration(s) {', '.join(refused)} would destroy data; nothing was applied. "
                "Back up, then run: carpark-migrate --allow-drop"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="carpark-migrate",
        description="Apply the carpark schema migrations to CARPARK_POSTGRES_DSN.",
    )
    parser.add_argument("--status", action="store_true", help="list versions; apply nothing")
    parser.add_argument(
        "--allow-drop", action="store_true", help="also apply migrations that destroy data"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from carpark_dagster.resources.postgres import PostgresUnavailable
    from carpark_dagster.settings import build_resources

    postgres = build_resources(resolve=True)["postgres"]
    migrations = bundled_migrations()
    try:
        with postgres.connect() as conn:
            if args.status:
                done = applied_versions(conn)
                for m in migrations:
                    state = "applied" if m.version in done else "pending"
                    print(
                        f"{m.version:<32} {state}{'  (destroys data)' if m.destroys_data else ''}"
                    )
                return 0
            applied = apply_migrations(conn, migrations, allow_drop=args.allow_drop)
    except (PostgresUnavailable, DestructiveMigration) as exc:
        print(f"carpark-migrate: {exc}", file=sys.stderr)
        return 2
    print(f"applied: {', '.join(applied)}" if applied else "up to date: nothing to apply")
    return 0


if __name__ == "__main__":
    sys.exit(main())
