"""The guard that keeps a migration from destroying data without `--allow-drop`."""

import pytest

from carpark_dagster.resources.migrations import Migration, bundled_migrations


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE carpark.quarantine;",
        "drop schema carpark cascade;",
        "ALTER TABLE carpark.parking_sessions DROP COLUMN tariff;",
        # The word COLUMN is optional in PostgreSQL.
        "ALTER TABLE carpark.parking_sessions DROP tariff;",
        "ALTER TABLE carpark.parking_sessions DROP IF EXISTS tariff;",
        "ALTER TABLE ONLY carpark.parking_sessions\n    DROP CONSTRAINT x,\n    DROP tariff;",
        "DROP MATERIALIZED VIEW carpark.daily_earnings;",
        "TRUNCATE carpark.gate_events;",
        "DELETE FROM carpark.gate_events WHERE true;",
    ],
)
def test_statements_that_destroy_data_are_recognised(sql):
    assert Migration("9999_x", sql).destroys_data


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE carpark.parking_sessions DROP CONSTRAINT parking_sessions_check;",
        "ALTER TABLE carpark.parking_sessions ALTER COLUMN tariff DROP DEFAULT;",
        "ALTER TABLE carpark.parking_sessions ALTER COLUMN tariff DROP NOT NULL;",
        "ALTER TABLE carpark.parking_sessions ALTER COLUMN n DROP EXPRESSION;",
        "ALTER TABLE carpark.parking_sessions ALTER COLUMN n DROP IDENTITY;",
        "DROP INDEX carpark.parking_sessions_by_plate;",
        'DROP VIEW public."CarPark";',  # a view holds no data of its own
        "-- DROP TABLE is only mentioned here\nSELECT 1;",
        "ALTER TABLE carpark.locations ADD COLUMN note text; CREATE INDEX i ON t (dropped);",
    ],
)
def test_statements_that_keep_every_value_pass(sql):
    assert not Migration("9999_x", sql).destroys_data


def test_no_bundled_migration_destroys_data():
    assert [m.version for m in bundled_migrations() if m.destroys_data] == []
