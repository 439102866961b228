"""The gate event contract, including the examples docs/events-and-sessions.md shows."""

import re
from pathlib import Path

import pandas as pd
import pytest

from carpark_dagster.domain.events import (
    EVENT_COLUMNS,
    INVALID_EVENT,
    parse_events,
    read_event_file,
)

CONTRACT_DOC = Path(__file__).resolve().parents[2] / "docs" / "events-and-sessions.md"
README = CONTRACT_DOC.read_text()


def readme_example(kind: str) -> str:
    match = re.search(rf"```{kind}\n(.*?)```", README, re.S)
    assert match, f"{CONTRACT_DOC.name} has no ```{kind} example"
    return match.group(1)


@pytest.mark.parametrize(("kind", "suffix"), [("csv", ".csv"), ("jsonl", ".jsonl")])
def test_the_readme_examples_follow_the_contract(kind, suffix, tmp_path):
    path = tmp_path / f"gate-events{suffix}"
    path.write_text(readme_example(kind))
    events, rejected = parse_events(read_event_file(path))
    assert rejected.empty
    assert list(events.columns) == EVENT_COLUMNS
    assert len(events) >= 3
    assert str(events["event_time"].dt.tz) == "UTC"


def test_the_two_examples_describe_the_same_events(tmp_path):
    (tmp_path / "a.csv").write_text(readme_example("csv"))
    (tmp_path / "a.jsonl").write_text(readme_example("jsonl"))
    from_csv, _ = parse_events(read_event_file(tmp_path / "a.csv"))
    from_jsonl, _ = parse_events(read_event_file(tmp_path / "a.jsonl"))
    pd.testing.assert_frame_equal(from_csv, from_jsonl)


def test_times_with_offsets_are_kept_and_naive_times_are_singapore_time():
    events, _ = parse_events(
        pd.DataFrame(
            [
                ["a", "P", "Park0", "entry", "2026-11-28T09:15:00+08:00"],
                ["b", "P", "Park0", "exit", "2026-11-28 09:15:00"],
                ["c", "P", "Park0", "exit", "2026-11-28T01:15:00Z"],
            ],
            columns=EVENT_COLUMNS,
        )
    )
    assert events["event_time"].nunique() == 1
    assert events["event_time"].iloc[0].isoformat() == "2026-11-28T01:15:00+00:00"


def test_malformed_records_are_rejected_with_reasons_not_errors():
    raw = pd.DataFrame(
        [
            ["", "P", "Park0", "entry", "2026-11-28T09:15:00+08:00"],
            ["b", "", "Park0", "entry", "2026-11-28T09:15:00+08:00"],
            ["c", "P", "Park0", "leave", "2026-11-28T09:15:00+08:00"],
            ["d", "P", "Park0", "exit", "tomorrow"],
            ["e", "P", "Park0", "exit", "28/11/2026 09:15:00"],
        ],
        columns=EVENT_COLUMNS,
    )
    events, rejected = parse_events(raw)
    assert events.empty
    assert rejected["reason"].tolist() == [
        f"{INVALID_EVENT}: missing event_id",
        f"{INVALID_EVENT}: missing plate",
        f"{INVALID_EVENT}: event_type must be entry or exit, not 'leave'",
        f"{INVALID_EVENT}: unreadable event_time 'tomorrow'",
        f"{INVALID_EVENT}: unreadable event_time '28/11/2026 09:15:00'",
    ]
    assert rejected["record"].iloc[3]["event_time"] == "tomorrow"


def test_other_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"\.csv or \.jsonl"):
        read_event_file(tmp_path / "events.xlsx")
