"""Importing the lab's PostgreSQL table (`carpark import-legacy --from-postgres`): a lab-shaped
table, made by the test in a scratch schema of a test database, goes through the same rules
as the CSV files; a second import writes nothing; the DSN's password is shown nowhere."""

from datetime import datetime
from decimal import Decimal

import dagster as dg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from carpark_dagster.cli import main
from carpark_dagster.defs.maintenance.legacy_import import import_legacy_csv
from carpark_dagster.domain.config import load_config
from carpark_dagster.domain.legacy import (
    BAD_ENTRY_TIME,
    CONTROL_CHARACTER,
    ENTRY_AFTER_EXIT,
    IN_THE_FUTURE,
    MISSING_PLATE,
    PLATE_TOO_LONG,
    TOO_EARLY,
    UNKNOWN_LOCATION,
    LegacyFormatError,
)
from carpark_dagster.lib.legacy_import import import_legacy_table
from carpark_dagster.resources import CarparkConfigResource, PostgresResource
from carpark_dagster.resources.legacy_database import LegacyDatabase, redact_dsn
from carpark_dagster_tests.integration.lab_database import as_lab_tuple, create_lab_table
from carpark_dagster_tests.lab_files import lab_sample, tariff_cents

CONFIG = load_config()
SCHEMA = "lab_scratch"
TABLE = f"{SCHEMA}.CarPark"
PLANTED = "pl4nted-S3CRET-pw"  # a password that must appear in no output

# Rows the lab could hold that we cannot take, and why (one each).
IMPOSSIBLE = [
    (("SBS9001\x01", "Park0", datetime(2025, 10, 8, 9), None, None), CONTROL_CHARACTER),
    (("X" * 40, "Park0", datetime(2025, 10, 8, 9), None, None), PLATE_TOO_LONG),
    ((None, "Park1", datetime(2025, 10, 8, 9), None, None), MISSING_PLATE),
    (("SBS9004", "Mars", datetime(2025, 10, 8, 9), None, None), UNKNOWN_LOCATION),
    (("SBS9005", "Park2", None, datetime(2025, 10, 8, 9), 1.5), BAD_ENTRY_TIME),
    (("SBS9006", "Park2", datetime(1999, 12, 31, 23), datetime(2000, 1, 1, 1), 0.6), TOO_EARLY),
    (("SBS9007", "Park3", datetime(2025, 10, 8, 9), datetime(2100, 1, 1), 9.9), IN_THE_FUTURE),
]


def lab_rows():
    """The lab's sample inserted twice (a re-run of the notebook), plus impossible rows."""
    sample = lab_sample(closed=30, parked=4, entry_after_exit=2)
    rows = [as_lab_tuple(r) for r in sample.rows] * 2
    return sample, rows + [row for row, _ in IMPOSSIBLE]


def with_password(dsn: str) -> tuple[str, str]:
    """`dsn` with the planted password, unless it carries one (then that one is the secret);
    the local cluster's trust authentication ignores a password it did not ask for."""
    password = conninfo_to_dict(dsn).get("password")
    return (dsn, password) if password else (make_conninfo(dsn, password=PLANTED), PLANTED)


@pytest.fixture
def lab_dsn(new_database) -> tuple[str, str]:
    dsn, password = with_password(new_database())
    create_lab_table(dsn, lab_rows()[1], schema=SCHEMA)
    return dsn, password


def _stored(postgres: PostgresResource):
    with postgres.connect() as conn:
        sessions = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE exit_time IS NULL),"
            " count(*) FILTER (WHERE charge_corrected), max(updated_at), min(source),"
            " max(source) FROM carpark.parking_sessions"
        ).fetchone()
        quarantine = conn.execute(
            "SELECT reason, count(*) FROM carpark.quarantine GROUP BY reason ORDER BY reason"
        ).fetchall()
        charges = dict(
            conn.execute(
                "SELECT plate, charge_cents FROM carpark.parking_sessions"
                " WHERE exit_time IS NOT NULL"
            ).fetchall()
        )
        recorded = dict(
            conn.execute(
                "SELECT plate, recorded_charge FROM carpark.parking_sessions"
                " WHERE recorded_charge IS NOT NULL"
            ).fetchall()
        )
        entry = conn.execute(
            "SELECT entry_time FROM carpark.parking_sessions WHERE plate = 'SBS1000'"
        ).fetchone()[0]
    return sessions, quarantine, charges, recorded, entry


def test_the_labs_table_imports_through_the_csv_rules_and_a_second_time_writes_nothing(
    postgres, lab_dsn
):
    dsn, _ = lab_dsn
    sample, _ = lab_rows()
    lab = LegacyDatabase(dsn)
    seen = []

    # 7 rows a batch: repeats of a row fall in the same batch and across two batches.
    summary = import_legacy_table(
        lab, postgres, CONFIG, table=TABLE, batch_rows=7, progress=seen.append
    )

    assert summary.rows_read == 72 + len(IMPOSSIBLE)
    assert (summary.sessions, summary.open_sessions, summary.sessions_written) == (34, 4, 34)
    assert summary.charges_corrected == 30  # the lab's formula was wrong on every closed row
    assert summary.duplicates == 36  # the re-run's copies: counted, dropped
    assert summary.rows_rejected == summary.quarantine_written == 2 + len(IMPOSSIBLE)
    assert [p.rows_read for p in seen] == [*range(7, summary.rows_read, 7), 79]
    assert summary.file == f"{TABLE} in {lab.describe()}"

    sessions, quarantine, charges, recorded, entry = _stored(postgres)
    source = f"legacy:postgres:{lab.dbname()}/{TABLE}"
    assert sessions[:3] == (34, 4, 30) and sessions[4:] == (source, source)
    assert charges == {r.plate: tariff_cents(r) for r in sample.closed}
    assert recorded == {r.plate: Decimal(r.lab_charge) for r in sample.closed}
    assert entry.isoformat() == "2025-10-07T23:03:11+00:00"  # 07:03:11 Singapore time
    expected = {ENTRY_AFTER_EXIT: 2} | {reason: 1 for _, reason in IMPOSSIBLE}
    assert dict(quarantine) == expected

    again = import_legacy_table(lab, postgres, CONFIG, table=TABLE, batch_rows=50)
    assert (again.sessions_written, again.quarantine_written) == (0, 0)
    assert (again.sessions, again.duplicates, again.rows_rejected) == (34, 36, 9)
    assert _stored(postgres) == (sessions, quarantine, charges, recorded, entry)


def test_numeric_charges_as_the_labs_pgadmin_table_has_them(postgres, new_database):
    """The lab's instructions create Parking_Charges as numeric; the driver stored the float
    as PostgreSQL's 15 significant digits."""
    dsn = new_database()
    sample = lab_sample(closed=3, parked=1, entry_after_exit=0)
    create_lab_table(dsn, [as_lab_tuple(r) for r in sample.rows], charges="numeric")
    summary = import_legacy_table(LegacyDatabase(dsn), postgres, CONFIG)
    assert (summary.sessions_written, summary.open_sessions, summary.charges_corrected) == (4, 1, 3)
    _, _, charges, recorded, _ = _stored(postgres)
    assert charges == {r.plate: tariff_cents(r) for r in sample.closed}
    assert recorded == {r.plate: Decimal(f"{float(r.lab_charge):.15g}") for r in sample.closed}


def test_the_command_imports_the_table_with_a_progress_line_and_no_password(
    postgres_dsn, lab_dsn, monkeypatch, capsys, caplog
):
    dsn, password = lab_dsn
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    argv = ["import-legacy", "--from-postgres", dsn, "--table", TABLE, "--batch-rows", "40"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "rows read                79" in out
    assert "still parked 4" in out
    assert "duplicates               36" in out
    assert "written                  34  sessions, 9 quarantined rows" in out
    assert err.count("rows read") == 2 and "... 79 rows read, 34 sessions" in err
    assert password not in out + err + caplog.text

    # From the environment instead (no DSN on the command line); a second time: nothing.
    monkeypatch.setenv("CARPARK_LAB_POSTGRES_DSN", dsn)
    assert main(["import-legacy", "--from-postgres", "--table", TABLE]) == 0
    out, err = capsys.readouterr()
    assert "written                   0  sessions, 0 quarantined rows" in out
    assert password not in out + err + caplog.text


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://lab:{PLANTED}@127.0.0.1:1/carpark_system",  # nothing listens
        f"host=127.0.0.1 port=1 user=lab password={PLANTED} dbname=carpark_system",
        f"postgresql://lab:{PLANTED}%zz@127.0.0.1:1/carpark_system",  # a bad % escape
        f"postgresql://lab:{PLANTED}@127.0.0.1:1/carpark_system?bogus_option=1",
        f"host=127.0.0.1 password={PLANTED} dbname",  # no '=' after a key
        f"postgresql://lab:{PLANTED.replace('-', '%2D')}@127.0.0.1:1/x",  # encoded
    ],
)
def test_the_password_appears_nowhere_when_the_lab_database_fails(
    dsn, postgres_dsn, monkeypatch, capsys, caplog
):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    code = main(["import-legacy", "--from-postgres", dsn])
    out, err = capsys.readouterr()
    assert code in (1, 2)
    assert err.startswith("carpark import-legacy: ") and len(err.strip().splitlines()) == 1
    for shown in (PLANTED, PLANTED.replace("-", "%2D"), "S3CRET"):
        assert shown not in out + err + caplog.text


def test_the_password_appears_nowhere_when_the_database_or_table_is_wrong(
    postgres_dsn, lab_dsn, monkeypatch, capsys, caplog
):
    dsn, password = lab_dsn
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    missing_db = make_conninfo(dsn, dbname="no_such_lab_database")
    assert main(["import-legacy", "--from-postgres", missing_db]) == 1
    assert main(["import-legacy", "--from-postgres", dsn, "--table", "public.NoSuch"]) == 2
    assert main(["import-legacy", "--from-postgres", dsn, "--table", 'a.b.c"; DROP']) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert "does not exist" in lines[0]
    assert lines[1] == (
        "carpark import-legacy: no table 'public.NoSuch' in the lab database at "
        f"{LegacyDatabase(dsn).describe()}"
    )
    assert lines[2].startswith("carpark import-legacy: --table must be TABLE or SCHEMA.TABLE")
    assert password not in out + err + caplog.text


def test_a_table_of_another_shape_is_refused_naming_the_missing_columns(postgres, new_database):
    import psycopg

    dsn = new_database()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute('CREATE TABLE "CarPark" ("Plate" text, "LocationID" text)')
    with pytest.raises(LegacyFormatError, match=r"missing column\(s\) \['Entry_DateTime'"):
        import_legacy_table(LegacyDatabase(dsn), postgres, CONFIG, table="CarPark")


def test_the_dagster_job_reads_the_dsn_from_the_environment_never_from_run_config(
    postgres, lab_dsn, monkeypatch
):
    dsn, password = lab_dsn
    monkeypatch.setenv("CARPARK_LAB_POSTGRES_DSN", dsn)
    config = {"from_postgres": True, "table": TABLE}
    instance = dg.DagsterInstance.ephemeral()
    result = import_legacy_csv.execute_in_process(
        run_config={"ops": {"import_legacy_files": {"config": config}}},
        resources={"postgres": postgres, "carpark_config": CarparkConfigResource()},
        instance=instance,
    )
    assert result.success
    [summary] = result.output_for_node("import_legacy_files")
    assert (summary["rows_read"], summary["sessions_written"], summary["duplicates"]) == (
        79,
        34,
        36,
    )
    logged = " ".join(e.user_message for e in instance.all_logs(result.run_id))
    assert "79 rows read" in logged and password not in logged

    # A failing lab database: a one-line failure, without the password.
    monkeypatch.setenv("CARPARK_LAB_POSTGRES_DSN", make_conninfo(dsn, port="1"))
    failed = import_legacy_csv.execute_in_process(
        run_config={"ops": {"import_legacy_files": {"config": config}}},
        resources={"postgres": postgres, "carpark_config": CarparkConfigResource()},
        raise_on_error=False,
    )
    assert not failed.success
    events = " ".join(f"{e.message} {e.event_specific_data}" for e in failed.all_events)
    assert "cannot connect to the lab database" in events
    assert password not in events

    # The variable must be one of the lab's: run config cannot point at another secret.
    other = {**config, "dsn_env_var": "CARPARK_ES_PASSWORD"}
    refused = import_legacy_csv.execute_in_process(
        run_config={"ops": {"import_legacy_files": {"config": other}}},
        resources={"postgres": postgres, "carpark_config": CarparkConfigResource()},
        raise_on_error=False,
    )
    assert not refused.success
    assert "CARPARK_LAB_" in " ".join(str(e.event_specific_data) for e in refused.all_events)


def test_redaction_replaces_the_password_in_every_form():
    dsn = "postgresql://lab:p%40ss+word@host/db"
    message = f"bad: {dsn} / p@ss+word / p%40ss%2Bword / p%40ss%2Bword"
    assert redact_dsn(message, dsn) == "bad: *** / *** / *** / ***"
    assert redact_dsn("nothing here", "not a dsn ===") == "nothing here"


def test_the_table_is_read_in_batches_from_a_server_side_cursor(lab_dsn):
    """Bounded memory: after the first batch the server holds the rest (the lab session's
    last statement is a FETCH of one batch from the named cursor)."""
    import psycopg

    dsn, _ = lab_dsn
    batches = LegacyDatabase(dsn).read_rows(("lab_scratch", "CarPark"), batch_rows=5)
    first = next(batches)
    assert len(first) == 5 and list(first.columns) == [
        "Plate",
        "LocationID",
        "Entry_DateTime",
        "Exit_DateTime",
        "Parking_Charges",
    ]
    with psycopg.connect(dsn, autocommit=True) as observer:
        [query] = observer.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = 'carpark import-legacy'"
        ).fetchone()
    assert query.startswith('FETCH FORWARD 5 FROM "carpark_legacy_import"')
    rest = list(batches)
    assert sum(len(b) for b in rest) == 79 - 5 and max(len(b) for b in rest) == 5
    assert first.iloc[0].tolist()[2] == "2025-10-08 07:03:11"  # ISO text, as the dump
    assert all(isinstance(v, str) for v in first.to_numpy().ravel())
