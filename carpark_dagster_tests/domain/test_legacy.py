"""Reading the lab's CSV files: both shapes, times, recorded charges, rows refused. The files
are made by the tests (`lab_files`); the lab's own samples are read too when present."""

import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from carpark_dagster.domain.legacy import (
    CONTROL_CHARACTER,
    DUPLICATE,
    IN_THE_FUTURE,
    PLATE_TOO_LONG,
    TOO_EARLY,
    LegacyFormatError,
    parse_legacy_rows,
    parse_table_name,
    read_legacy_csv,
)
from carpark_dagster_tests.lab_files import lab_sample, shared_samples


def csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


def _same_sessions_in_both_shapes(notebook_file: Path, dump_file: Path, dump_rows: int) -> None:
    notebook = parse_legacy_rows(read_legacy_csv(notebook_file))
    dump = parse_legacy_rows(read_legacy_csv(dump_file))
    assert dump.rows_read == dump_rows
    common = dump.sessions.merge(notebook.sessions, on="session_id", suffixes=("_d", "_n"))
    assert len(common) == len(dump.sessions) > 0
    assert (common.entry_time_d == common.entry_time_n).all()
    assert (common.exit_time_d.isna() == common.exit_time_n.isna()).all()
    closed = common.exit_time_d.notna()
    assert (common.exit_time_d[closed] == common.exit_time_n[closed]).all()
    assert common.recorded_charge_d.tolist() == common.recorded_charge_n.tolist()


def test_both_shapes_give_the_same_sessions_for_the_same_rows(tmp_path):
    sample = lab_sample()
    _same_sessions_in_both_shapes(
        sample.write_notebook_file(tmp_path / "carpark_system.csv"),
        sample.write_dag_dump(tmp_path / "dump.csv", rows=20),
        dump_rows=20,
    )


def test_the_labs_own_samples_give_the_same_sessions_in_both_shapes():
    notebook, dump = shared_samples()
    _same_sessions_in_both_shapes(notebook, dump, dump_rows=200)


def test_a_made_sample_is_read_as_the_lab_wrote_it(tmp_path):
    sample = lab_sample(closed=5, parked=2, entry_after_exit=1)
    rows = parse_legacy_rows(read_legacy_csv(sample.write_notebook_file(tmp_path / "s.csv")))
    assert rows.rows_read == 8
    assert len(rows.sessions) == 7
    assert rows.sessions["exit_time"].isna().sum() == 2
    assert rows.rejected["reason"].tolist() == ["entry after exit"]
    first = sample.rows[0]
    assert rows.sessions["entry_time"].iloc[0].isoformat() == "2025-10-07T23:03:11+00:00"
    assert rows.sessions["recorded_charge"].iloc[0] == Decimal(first.lab_charge)


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
                "6,A6,Park0,2025-10-08 13:00:00,2025-10-08 15:00:00,0.5\n"  # another exit
                "7,A6,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\n"  # the same again
            )
        ),
        known_locations={"Park0"},
    )
    assert rows.rejected["reason"].tolist() == [
        "entry after exit",
        "unparseable entry time",
        "unparseable exit time",
        "missing plate",
        "unknown location",
        "duplicate of an earlier row (same plate, location and entry)",
    ]
    assert rows.sessions["plate"].tolist() == ["A6"]
    assert rows.sessions["exit_time"].iloc[0].isoformat() == "2025-10-08T06:00:00+00:00"
    assert (rows.rows_read, rows.duplicates) == (8, 1)
    assert rows.rejected["record"].iloc[0]["Plate"] == "A1"
    # Reasons are fixed texts; the values stay in the record.
    assert rows.rejected["record"].iloc[2]["Exit_DateTime"] == "yesterday"
    assert rows.rejected["record"].iloc[4]["LocationID"] == "Mars"


def test_files_of_another_shape_are_refused_with_a_clear_message():
    with pytest.raises(LegacyFormatError, match="missing column"):
        read_legacy_csv(csv("plate,where\nA,B\n"))
    with pytest.raises(LegacyFormatError, match="not a readable CSV"):
        read_legacy_csv(io.BytesIO(b"\xff\xfe\x00bad"))


LIMITS_HEADER = "Plate,LocationID,Entry_DateTime,Exit_DateTime,Parking_Charges\n"
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)  # 16:00 carpark time


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("A\x00B,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5", CONTROL_CHARACTER),
        ("AB,Park0,2025-10-08 13:00:00\x00,2025-10-08 14:00:00,0.5", CONTROL_CHARACTER),
        ("AB,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5\x07", CONTROL_CHARACTER),
        ("A\tB,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5", CONTROL_CHARACTER),
        ("A\x85B,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5", CONTROL_CHARACTER),
        ("Park\x1b[31m0,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5", CONTROL_CHARACTER),
        ("A" * 17 + ",Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,0.5", PLATE_TOO_LONG),
        ("AB,Park0,1999-12-31 23:59:59,2025-10-08 14:00:00,0.5", TOO_EARLY),
        ("AB,Park0,1970-01-01 08:00:00,,", TOO_EARLY),
        ("AB,Park0,2026-12-01 16:15:01,,", IN_THE_FUTURE),
        ("AB,Park0,2026-12-01 15:00:00,2076-12-01 15:00:00,9.99", IN_THE_FUTURE),
        ("AB,Park0,2026-12-01 15:00:00,2200-01-01 00:00:00,9.99", IN_THE_FUTURE),
    ],
)
def test_rows_beyond_the_importers_limits_are_quarantined_with_a_fixed_reason(row, reason):
    rows = parse_legacy_rows(
        read_legacy_csv(csv(LIMITS_HEADER + row + "\nOK1,Park0,2025-10-08 13:00:00,,\n")),
        known_locations={"Park0"},
        now=NOW,
    )
    assert rows.rejected["reason"].tolist() == [reason]
    assert rows.sessions["plate"].tolist() == ["OK1"]  # the import goes on
    assert "\x00" not in json.dumps(rows.rejected["record"].iloc[0])  # jsonb has no NUL


def test_rows_inside_the_limits_are_taken():
    rows = parse_legacy_rows(
        read_legacy_csv(
            csv(
                LIMITS_HEADER
                + "A" * 16
                + ",Park0,2000-01-01 00:00:00,2000-01-01 01:00:00,0.6\n"
                + " \tAB \t,Park0,2026-12-01 16:15:00,,\n"  # trimmed; 15 minutes ahead
                + "AC,Park0,2026-12-01 15:00:00.250000,2026-12-01 16:00:00.5,0.6\n"
            )
        ),
        known_locations={"Park0"},
        now=NOW,
    )
    assert rows.rejected.empty
    assert rows.sessions["plate"].tolist() == ["A" * 16, "AB", "AC"]
    assert rows.sessions["entry_time"].iloc[2].isoformat() == "2026-12-01T07:00:00.250000+00:00"


def test_a_nul_in_a_refused_row_is_kept_as_a_replacement_character():
    rows = parse_legacy_rows(
        read_legacy_csv(csv(LIMITS_HEADER + "A\x00B,Park0,2025-10-08 13:00:00,,\n"))
    )
    assert rows.rejected["record"].iloc[0]["Plate"] == "A\ufffdB"


def test_exact_repeats_are_counted_and_dropped_also_across_batches():
    text = LIMITS_HEADER + "AB,Park0,2025-10-08 13:00:00,,\n" + "AB,Park0,2025-10-08 13:00:00,,\n"
    first = parse_legacy_rows(read_legacy_csv(csv(text)))
    assert (len(first.sessions), first.duplicates, len(first.rejected)) == (1, 1, 0)
    same = parse_legacy_rows(
        read_legacy_csv(csv(text)),
        earlier_session_ids=frozenset(first.sessions["session_id"]),
        earlier_row_keys=first.row_keys,
    )
    assert (len(same.sessions), same.duplicates, len(same.rejected)) == (0, 2, 0)
    other_exit = parse_legacy_rows(
        read_legacy_csv(csv(LIMITS_HEADER + "AB,Park0,2025-10-08 13:00:00,2025-10-08 14:00:00,")),
        earlier_session_ids=frozenset(first.sessions["session_id"]),
        earlier_row_keys=first.row_keys,
    )
    assert other_exit.sessions.empty and other_exit.duplicates == 0
    assert other_exit.rejected["reason"].tolist() == [DUPLICATE]


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("public.CarPark", ("public", "CarPark")),
        ('public."CarPark"', ("public", "CarPark")),
        ("CarPark", ("CarPark",)),
        (' lab . "Car Park" ', ("lab", "Car Park")),
        ("x" * 63, ("x" * 63,)),
    ],
)
def test_a_table_name_is_split_into_its_identifiers_case_kept(text, parts):
    assert parse_table_name(text) == parts
