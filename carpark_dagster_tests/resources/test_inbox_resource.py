"""The inbox's file handling: what counts as complete, where handled files go, the sources."""

import os

import pytest
from pydantic import ValidationError

from carpark_dagster.resources import InboxResource


def make(tmp_path, **kwargs) -> InboxResource:
    return InboxResource(directory=str(tmp_path), **kwargs)


def test_only_complete_gate_files_are_taken_oldest_first(tmp_path):
    inbox = make(tmp_path, settle_seconds=5)
    now = 1_000_000.0
    for name, age in [
        ("b.csv", 60),
        ("a.jsonl", 120),
        ("fresh.csv", 2),  # still being written, perhaps
        (".hidden.csv", 60),
        ("gates.csv.part", 60),
        ("notes.txt", 60),
    ]:
        path = tmp_path / name
        path.write_text("x")
        os.utime(path, (now - age, now - age))
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "old.csv").write_text("x")
    (tmp_path / "link.csv").symlink_to(tmp_path / "b.csv")
    assert [p.name for p in inbox.complete_files(now)] == ["a.jsonl", "b.csv"]
    assert make(tmp_path / "missing").complete_files(now) == []


def test_handled_files_move_without_overwriting_and_refusals_keep_their_reason(tmp_path):
    inbox = make(tmp_path)
    for _ in range(2):
        (tmp_path / "gates.csv").write_text("x")
        inbox.file_away(tmp_path / "gates.csv", refused_reason=None)
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["gates.1.csv", "gates.csv"]
    (tmp_path / "bad.jsonl").write_text("x")
    moved = inbox.file_away(tmp_path / "bad.jsonl", refused_reason="not UTF-8 text")
    assert moved == tmp_path / "rejected" / "bad.jsonl"
    assert (tmp_path / "rejected" / "bad.jsonl.reason").read_text() == "not UTF-8 text\n"
    assert not (tmp_path / "bad.jsonl").exists()


@pytest.mark.parametrize(
    ("source", "simulator", "inbox"),
    [
        ("simulator", True, False),
        ("inbox", False, True),
        ("both", True, True),
        (" Both ", True, True),
    ],
)
def test_the_source_says_what_produces_events(source, simulator, inbox):
    resource = InboxResource(source=source)
    assert (resource.simulator_on, resource.inbox_on) == (simulator, inbox)


def test_an_unknown_source_is_refused_in_one_line():
    with pytest.raises(
        ValidationError, match="CARPARK_SOURCE must be one of simulator, inbox, both"
    ):
        InboxResource(source="kafka")
