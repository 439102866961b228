"""A lab-shaped database for the tests of the import from PostgreSQL: the lab's table
`"CarPark"` with its exact column types (timestamps without time zone, float charges, no key),
filled the way the lab filled it (re-runs inserting the same rows again)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from carpark_dagster_tests.lab_files import LabRow

CREATE_LAB_TABLE = """
CREATE TABLE {table} (
    "Plate" text,
    "LocationID" text,
    "Entry_DateTime" timestamp without time zone,
    "Exit_DateTime" timestamp without time zone,
    "Parking_Charges" {charges}
)
"""
INSERT_LAB_ROW = """
INSERT INTO {table} ("Plate", "LocationID", "Entry_DateTime", "Exit_DateTime", "Parking_Charges")
VALUES (%s, %s, %s, %s, %s)
"""

LabTuple = tuple[str | None, str | None, datetime | None, datetime | None, float | None]


def as_lab_tuple(row: LabRow) -> LabTuple:
    """A row as the lab's notebook inserted it: naive local times, the charge a float."""
    charge = float(row.lab_charge) if row.lab_charge else None
    return (row.plate, row.location_id, row.entry, row.exit, charge)


def create_lab_table(
    dsn: str,
    rows: Sequence[LabTuple],
    schema: str = "public",
    charges: str = "double precision",
) -> None:
    table = sql.Identifier(schema, "CarPark")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL(CREATE_LAB_TABLE).format(table=table, charges=sql.SQL(charges)))
        with conn.cursor() as cur:
            cur.executemany(sql.SQL(INSERT_LAB_ROW).format(table=table), list(rows))
