"""The lab's CSV files, from ../shared/data (never copied into the repository)."""

import io
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from carpark_dagster.domain.config import load_config
from carpark_dagster.domain.legacy import LegacyFormatError, parse_legacy_rows, read_legacy_csv
from carpark_dagster.legacy_import import import_legacy_file, main
from carpark_dagster.legacy_job import import_legacy_csv
from carpark_dagster.resources import CarparkConfigResource

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NOTEBOOK_FILE = DATA / "lab_carpark_system.csv"
DAG_DUMP = DATA / "lab_carpark_dump.csv"
CONFIG = load_config()


@pytest.fixture(scope="module")
def lab_files():
    """The two sample files; their absence is a failure, not a skip."""
    if not NOTEBOOK_FILE.exists() or not DAG_DUMP.exists():
        pytest.fail(f"the lab's sample files are expected in {DATA} (the shared folder)")


def csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


def test_both_shapes_give_the_same_sessions_for_the_same_rows(lab_files):
    notebook = parse_legacy_rows(read_legacy_csv(NOTEBOOK_FILE))
    dump = parse_legacy_rows(read_legacy_csv(DAG_DUMP))
    assert dump.rows_read == 200
    common = dump.sessions.merge(notebook.sessions, on="session_id", suffixes=("_d", "_n"))
    assert len(common) == len(dump.sessions)
    assert (common.entry_time_d == common.entry_time_n).all()


def test_times_are_singapore_local_and_blank_exits_are_open_sessions():
    rows = parse_legacy_rows(
        read_legacy_csv(
            csv(
                "\ufeffPlate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
                "SBS3229P,Park0,08/10/2025 13:13:47,08/10/2025 17:38:34,1.3239166666666669\n"
                "SBS3229P,Park1,08/10/2025 18:00:00,,\n"
            )
        )
    )
    first, second = rows.sessions.to_dict(orient="records")
    assert first["entry_time"].isoformat() == "2025-10-08T05:13:47+00:00"  # 13:13:47 at UTC+8
    assert first["recorded_charge"] == Decimal("1.3239166666666669")
    assert second["exit_time"] is None or str(second["exit_time"]) == "NaT"
    assert second["recorded_charge"] is None


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("1.3239166666666669", Decimal("1.3239166666666669")),
        ("12.5", Decimal("12.5")),
        ("1E+2", Decimal("100")),
        ("0.12345678901234567890", Decimal("0.12345678901234567890")),
        ("0.123456789012345678901", None),  # 21 places: not a plausible amount
        ("1000000000000", None),  # a trillion dollars
        ("-1e300", None),
        ("NaN", None),
        ("Infinity", None),
        ("two dollars", None),
    ],
)
def test_a_recorded_charge_is_kept_exactly_when_it_is_a_plausible_amount(written, kept):
    rows = parse_legacy_rows(
        read_legacy_csv(
            csv(
                "Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
                f"SBS3229P,Park0,08/10/2025 13:13:47,08/10/2025 17:38:34,{written}\n"
            )
        )
    )
    [recorded] = rows.sessions["recorded_charge"].tolist()
    assert recorded == kept if kept is not None else recorded is None


def test_rows_that_cannot_be_taken_come_back_with_reasons():
    rows = parse_legacy_rows(
        read_legacy_csv(
            csv(
                ",Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
                "0,A1,Park0,2025-10-08 13:00:00,2025-10-08 12:00:00,0.5\n"
                "1,A2,Park0,2025-13-45 13:00:00,2025-10-08 14:00:00,0.5\n"
                "2,A3,Park0,2025-10-08 13:00:00,yesterday,0.5\n"
                "3,,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"
                "4,A5,Mars,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"
                "5,A6,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"
                "6,A6,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"
            )
        ),
        known_locations={"Park0"},
    )
    assert rows.rejected["reason"].tolist() == [
        "entry after exit",
        "unparseable entry time '2025-13-45 13:00:00'",
        "unparseable exit time 'yesterday'",
        "missing plate",
        "unknown location 'Mars'",
        "duplicate of an earlier row (same plate, location and entry)",
    ]
    assert rows.sessions["plate"].tolist() == ["A6"]
    assert rows.rejected["record"].iloc[0]["Plate"] == "A1"


def test_files_of_another_shape_are_refused_with_a_clear_message():
    with pytest.raises(LegacyFormatError, match="missing column"):
        read_legacy_csv(csv("plate,where\nA,B\n"))
    with pytest.raises(LegacyFormatError, match="not a readable CSV"):
        read_legacy_csv(io.BytesIO(b"\xff\xfe\x00bad"))


@pytest.mark.services
def test_import_recomputes_charges_keeps_the_recorded_ones_and_is_idempotent(postgres, lab_files):
    summary = import_legacy_file(NOTEBOOK_FILE, postgres, CONFIG)
    assert (summary.rows_read, summary.rows_rejected) == (406, 6)
    assert summary.sessions == summary.sessions_written == 400
    assert summary.open_sessions == 11
    assert summary.charges_corrected == 389  # the lab's formula was wrong on every closed row

    with postgres.connect() as conn:
        rows = conn.execute(
            """SELECT count(*) FILTER (WHERE exit_time IS NULL),
                      count(*) FILTER (WHERE charge_corrected),
                      count(*) FILTER (WHERE charge_cents <>
                          ceil(extract(epoch FROM exit_time - entry_time) / 1800) * 60),
                      min(source), max(source)
               FROM carpark.parking_sessions"""
        ).fetchone()
        quarantined = conn.execute(
            "SELECT reason, source FROM carpark.quarantine ORDER BY reason"
        ).fetchall()
        recorded = conn.execute(
            """SELECT recorded_charge FROM carpark.parking_sessions
               WHERE plate = '6-SLM26' AND location_id = 'Park4'"""
        ).fetchone()[0]
    assert rows == (11, 389, 0, "legacy:lab_carpark_system.csv", "legacy:lab_carpark_system.csv")
    assert quarantined == [("entry after exit", "legacy:lab_carpark_system.csv")] * 6
    assert recorded == Decimal("1.3239166666666669")

    again = import_legacy_file(DAG_DUMP, postgres, CONFIG)  # the same rows, another shape
    assert again.sessions_written == 0


@pytest.mark.services
def test_the_command_prints_a_summary_and_fails_cleanly(
    postgres_dsn, monkeypatch, capsys, lab_files
):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    assert main([str(DAG_DUMP)]) == 0
    out = capsys.readouterr().out
    assert "rows read               200" in out
    assert "still parked 4" in out
    assert main([str(DATA / "absent.csv")]) == 2
    assert "absent.csv" in capsys.readouterr().err


@pytest.mark.services
def test_the_dagster_job_imports_too(postgres, lab_files):
    result = import_legacy_csv.execute_in_process(
        run_config={"ops": {"import_legacy_files": {"config": {"paths": [str(DAG_DUMP)]}}}},
        resources={"postgres": postgres, "carpark_config": CarparkConfigResource()},
    )
    assert result.success
    [summary] = result.output_for_node("import_legacy_files")
    assert summary["sessions_written"] == 198
    assert isinstance(result, dg.ExecuteInProcessResult)
