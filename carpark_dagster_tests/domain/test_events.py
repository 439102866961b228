"""The gate event contract, including the examples docs/events-and-sessions.md shows."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from carpark_dagster.domain.events import EVENT_COLUMNS, parse_event_times
from carpark_dagster.domain.inbox import InboxRules, read_gate_file

CONTRACT_DOC = Path(__file__).resolve().parents[2] / "docs" / "events-and-sessions.md"
README = CONTRACT_DOC.read_text()
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def readme_example(kind: str) -> str:
    match = re.search(rf"```{kind}\n(.*?)```", README, re.S)
    assert match, f"{CONTRACT_DOC.name} has no ```{kind} example"
    return match.group(1)


def read(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    chunks = list(read_gate_file(path, InboxRules(), NOW))
    return (
        pd.concat([c.events for c in chunks], ignore_index=True),
        pd.concat([c.rejected for c in chunks], ignore_index=True),
    )


@pytest.mark.parametrize(("kind", "suffix"), [("csv", ".csv"), ("jsonl", ".jsonl")])
def test_the_readme_examples_follow_the_contract(kind, suffix, tmp_path):
    path = tmp_path / f"gate-events{suffix}"
    path.write_text(readme_example(kind))
    events, rejected = read(path)
    assert rejected.empty
    assert list(events.columns) == [*EVENT_COLUMNS, "line"]
    assert len(events) >= 3
    assert str(events["event_time"].dt.tz) == "UTC"


def test_the_two_examples_describe_the_same_events(tmp_path):
    (tmp_path / "a.csv").write_text(readme_example("csv"))
    (tmp_path / "a.jsonl").write_text(readme_example("jsonl"))
    from_csv, _ = read(tmp_path / "a.csv")
    from_jsonl, _ = read(tmp_path / "a.jsonl")
    pd.testing.assert_frame_equal(from_csv[EVENT_COLUMNS], from_jsonl[EVENT_COLUMNS])
    assert from_csv["line"].tolist() == [2, 3, 4]
    assert from_jsonl["line"].tolist() == [1, 2, 3]


def test_times_with_offsets_are_kept_and_naive_times_are_singapore_time():
    times = parse_event_times(
        ["2026-11-28T09:15:00+08:00", "2026-11-28 09:15:00", "2026-11-28T01:15:00Z"]
    )
    assert times.nunique() == 1
    assert times[0].isoformat() == "2026-11-28T01:15:00+00:00"
    assert str(times.dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize(
    "text",
    [
        "tomorrow",
        "28/11/2026 09:15:00",  # day first: not ISO 8601
        " 2026-11-28",  # callers trim
        "",
        "0001-01-01T00:00:00",  # beyond what nanoseconds hold
        "2262-06-01T00:00:00Z",
        "1981-12-31 23:45",  # Singapore moved its clocks on: this local time never existed
    ],
)
def test_unreadable_times_are_nat(text):
    assert parse_event_times([text]).isna().all()


def test_times_keep_microseconds_and_the_order_given():
    times = parse_event_times(["2026-11-28T01:15:00.000001Z", "bad", "2026-11-28T00:00:00"])
    assert [t.isoformat() if t is not pd.NaT else None for t in times] == [
        "2026-11-28T01:15:00.000001+00:00",
        None,
        "2026-11-27T16:00:00+00:00",
    ]
