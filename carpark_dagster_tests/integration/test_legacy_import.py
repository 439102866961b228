"""Importing the lab's files into PostgreSQL: from the library, the `carpark` command and the
Dagster job. The files are made by the tests; the lab's own samples are imported too when
../shared/data is there."""

from decimal import Decimal
from pathlib import Path

from carpark_dagster.cli import main
from carpark_dagster.defs.maintenance.legacy_import import import_legacy_csv
from carpark_dagster.domain.config import load_config
from carpark_dagster.lib.legacy_import import import_legacy_file
from carpark_dagster.resources import CarparkConfigResource, PostgresResource
from carpark_dagster_tests.lab_files import lab_sample, shared_samples, tariff_cents

CONFIG = load_config()
SUMMARY_SQL = """
SELECT count(*) FILTER (WHERE exit_time IS NULL),
       count(*) FILTER (WHERE charge_corrected),
       count(*) FILTER (WHERE charge_cents <>
           ceil(extract(epoch FROM exit_time - entry_time) / 1800) * 60),
       min(source), max(source)
FROM carpark.parking_sessions
"""


def _stored(postgres: PostgresResource):
    with postgres.connect() as conn:
        summary = conn.execute(SUMMARY_SQL).fetchone()
        quarantined = conn.execute(
            "SELECT reason, source FROM carpark.quarantine ORDER BY reason"
        ).fetchall()
        charges = dict(
            conn.execute(
                "SELECT plate, charge_cents FROM carpark.parking_sessions "
                "WHERE exit_time IS NOT NULL"
            ).fetchall()
        )
        recorded = dict(
            conn.execute(
                "SELECT plate, recorded_charge FROM carpark.parking_sessions "
                "WHERE recorded_charge IS NOT NULL"
            ).fetchall()
        )
    return summary, quarantined, charges, recorded


def test_import_recomputes_charges_keeps_the_recorded_ones_and_is_idempotent(postgres, tmp_path):
    sample = lab_sample(closed=30, parked=4, entry_after_exit=2)
    notebook = sample.write_notebook_file(tmp_path / "carpark_system.csv")

    summary = import_legacy_file(notebook, postgres, CONFIG)

    assert (summary.rows_read, summary.rows_rejected) == (36, 2)
    assert summary.sessions == summary.sessions_written == 34
    assert summary.open_sessions == 4
    assert summary.charges_corrected == 30  # the lab's formula was wrong on every closed row
    stored, quarantined, charges, recorded = _stored(postgres)
    source = "legacy:carpark_system.csv"
    assert stored == (4, 30, 0, source, source)
    assert quarantined == [("entry after exit", source)] * 2
    assert charges == {r.plate: tariff_cents(r) for r in sample.closed}
    assert recorded == {r.plate: Decimal(r.lab_charge) for r in sample.closed}

    # The same rows in the other shape: no session written or changed.
    again = import_legacy_file(sample.write_dag_dump(tmp_path / "dump.csv"), postgres, CONFIG)
    assert again.sessions_written == 0
    stored_again, _, charges_again, recorded_again = _stored(postgres)
    assert (stored_again, charges_again, recorded_again) == (stored, charges, recorded)


def test_the_labs_own_samples_import_as_before(postgres):
    notebook, dump = shared_samples()
    summary = import_legacy_file(notebook, postgres, CONFIG)
    assert (summary.rows_read, summary.rows_rejected) == (406, 6)
    assert summary.sessions == summary.sessions_written == 400
    assert summary.open_sessions == 11
    assert summary.charges_corrected == 389
    stored, quarantined, _, recorded = _stored(postgres)
    source = "legacy:lab_carpark_system.csv"
    assert stored == (11, 389, 0, source, source)
    assert quarantined == [("entry after exit", source)] * 6
    assert recorded["6-SLM26"] == Decimal("1.3239166666666669")
    assert import_legacy_file(dump, postgres, CONFIG).sessions_written == 0


def test_the_command_prints_a_summary_and_fails_cleanly(
    postgres_dsn, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    dump = lab_sample(closed=6, parked=2, entry_after_exit=0).write_dag_dump(tmp_path / "d.csv")
    assert main(["import-legacy", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "rows read                 8" in out
    assert "still parked 2" in out

    assert main(["import-legacy", str(tmp_path / "absent.csv")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line == f"carpark import-legacy: {tmp_path / 'absent.csv'}: No such file or directory"

    not_csv = tmp_path / "notes.csv"
    not_csv.write_text("plate,where\nA,B\n")
    assert main(["import-legacy", str(not_csv)]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("carpark import-legacy: not a carpark_system.csv: missing column")


def test_the_dagster_job_imports_too(postgres, tmp_path):
    dump: Path = lab_sample(closed=5, parked=1, entry_after_exit=1).write_dag_dump(
        tmp_path / "dump.csv"
    )
    result = import_legacy_csv.execute_in_process(
        run_config={"ops": {"import_legacy_files": {"config": {"paths": [str(dump)]}}}},
        resources={"postgres": postgres, "carpark_config": CarparkConfigResource()},
    )
    assert result.success
    [summary] = result.output_for_node("import_legacy_files")
    assert (summary["rows_read"], summary["sessions_written"], summary["rows_rejected"]) == (
        7,
        6,
        1,
    )


def test_rows_beyond_the_limits_are_quarantined_and_the_import_goes_on(postgres, tmp_path):
    """A NUL once failed the whole import (PostgreSQL stores no NUL, in text or jsonb); an
    exit decades ahead made every tick probe the exit log for each of its days."""
    path = tmp_path / "carpark_system.csv"
    path.write_bytes(
        b"Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
        b"SBS1\x00X,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.3\n"
        b"SBS2\x1b[2J,Park0,2025-10-08 13:00:00,,\n"
        + b"P"
        * 17
        + b",Park1,2025-10-08 13:00:00,2025-10-08 14:00:00,0.3\n"
        b"SBS4,Park2,1999-12-31 23:59:59,2025-10-08 14:00:00,0.3\n"
        b"SBS5,Park3,2025-10-08 13:00:00,2071-10-08 14:00:00,0.3\n"
        b"SBS6,Park4,2025-10-08 13:00:00,2025-10-08 14:00:00,0.3\n"
    )
    summary = import_legacy_file(path, postgres, CONFIG)
    assert (summary.rows_read, summary.rows_rejected, summary.sessions_written) == (6, 5, 1)
    with postgres.connect() as conn:
        quarantined = conn.execute(
            "SELECT reason, record->>'Plate' FROM carpark.quarantine ORDER BY reason, 2"
        ).fetchall()
        plates = conn.execute("SELECT plate FROM carpark.parking_sessions").fetchall()
    assert quarantined == [
        ("control character in a cell", "SBS1\ufffdX"),
        ("control character in a cell", "SBS2\x1b[2J"),
        ("plate longer than 16 characters", "P" * 17),
        ("time before 2000-01-01 (carpark time)", "SBS4"),
        ("time in the future", "SBS5"),
    ]
    assert plates == [("SBS6",)]
    again = import_legacy_file(path, postgres, CONFIG)
    assert (again.sessions_written, again.quarantine_written) == (0, 0)
