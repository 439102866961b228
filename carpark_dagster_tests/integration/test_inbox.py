"""Gate event files through the inbox, against the real services: landed once by content,
bad records quarantined with their line, refused files kept out, and the ticks turning the
events into priced sessions exactly as a replay does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from carpark_dagster.cli import main
from carpark_dagster.defs.automation.sensors import inbox_sensor
from carpark_dagster.defs.inbox.assets import gate_event_files
from carpark_dagster.domain.inbox import InboxRules
from carpark_dagster.lib.inbox import DUPLICATE, LANDED, REFUSED, land_file
from carpark_dagster.resources import InboxResource, TickClockResource
from carpark_dagster_tests.integration.pipeline_runs import (
    START,
    pipeline_resources,
    run_pipeline,
)

HEADER = "event_id,plate,location_id,event_type,event_time\n"
GOOD = (
    HEADER
    + "g1,SBA1234A,Park0,entry,2026-11-27T07:01:00+08:00\n"
    + "g2,SBA1234A,Park0,exit,2026-11-27T07:10:00+08:00\n"
    + "g3,SKB77C,Park1,entry,2026-11-27T07:05:00+08:00\n"
    + "g4,SKB77C,Park1,parked,2026-11-27T07:06:00+08:00\n"
    + "g5,SKB77C,Nowhere,entry,2026-11-27T07:06:00+08:00\n"
)
# Lands at 07:40: B leaves; and an entry two days old, beyond the 24 h lateness window.
LATE = (
    '{"event_id":"l1","plate":"SKB77C","location_id":"Park1","event_type":"exit",'
    '"event_time":"2026-11-27T07:30:00+08:00"}\n'
    '{"event_id":"l2","plate":"SLATE1","location_id":"Park2","event_type":"entry",'
    '"event_time":"2026-11-25T07:30:00+08:00"}\n'
    "this line is not JSON\n"
)
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


def rows(postgres, sql: str, params=()) -> list[tuple]:
    with postgres.connect() as conn:
        return conn.execute(sql, params).fetchall()


def at(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


def test_a_file_lands_once_by_content_and_its_bad_records_are_quarantined_by_line(
    postgres, tmp_path
):
    rules = InboxRules(known_locations=frozenset({"Park0", "Park1", "Park2"}))
    good = tmp_path / "gates-0710.csv"
    good.write_text(GOOD)
    outcome = land_file(postgres, good, rules, at("2026-11-27T07:12+08:00"))
    assert (outcome.status, outcome.events, outcome.quarantined) == (LANDED, 3, 2)
    assert outcome.landed_at == at("2026-11-27T07:12+08:00")
    assert rows(postgres, "SELECT line, event_id FROM carpark.landed_events ORDER BY line") == [
        (2, "g1"),
        (3, "g2"),
        (4, "g3"),
    ]
    quarantined = rows(
        postgres,
        "SELECT source, source_file, line_number, record->>'event_id' FROM carpark.quarantine "
        "ORDER BY line_number",
    )
    assert quarantined == [
        ("inbox", "gates-0710.csv", 5, "g4"),
        ("inbox", "gates-0710.csv", 6, "g5"),
    ]

    # The same content under another name: recognised, nothing loaded twice.
    copy = tmp_path / "copy-of-gates.csv"
    copy.write_text(GOOD)
    again = land_file(postgres, copy, rules, at("2026-11-27T07:20+08:00"))
    assert (again.status, again.reason) == (DUPLICATE, "same content as gates-0710.csv")
    assert rows(postgres, "SELECT count(*) FROM carpark.landed_events") == [(3,)]
    assert rows(postgres, "SELECT count(*) FROM carpark.quarantine") == [(2,)]

    # Other content repeating known event ids lands; the ticks keep the first delivery.
    overlap = tmp_path / "overlap.csv"
    overlap.write_text(HEADER + "g1,SBA1234A,Park0,entry,2026-11-27T07:01:00+08:00\n")
    assert land_file(postgres, overlap, rules, at("2026-11-27T07:20+08:00")).duplicates == 1


def test_a_refused_file_loads_nothing_and_its_content_stays_refused(postgres, tmp_path):
    rules = InboxRules()
    # Good records first, invalid UTF-8 at the end: refused as a whole.
    half = tmp_path / "half.csv"
    half.write_bytes(GOOD.encode() + b"g9,S\xff\xfeX,Park0,entry,2026-11-27T07:02:00+08:00\n")
    outcome = land_file(postgres, half, rules, at("2026-11-27T07:12+08:00"))
    assert outcome.status == REFUSED and "UTF-8" in outcome.reason
    assert rows(postgres, "SELECT count(*) FROM carpark.landed_events") == [(0,)]
    assert rows(postgres, "SELECT count(*) FROM carpark.quarantine") == [(0,)]
    assert rows(postgres, "SELECT file_name, status FROM carpark.inbox_files") == [
        ("half.csv", "refused")
    ]
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes(half.read_bytes())
    again = land_file(postgres, renamed, rules, at("2026-11-27T07:20+08:00"))
    assert again.status == REFUSED and again.reason.endswith("(same content as half.csv)")


def test_events_never_land_in_a_window_already_processed(postgres, tmp_path):
    """A file whose clock lags the ticks' progress lands at the progress instead: its events
    are in the next window processed, never in one that is done."""
    postgres.start_ticks(at("2026-11-27T07:00+08:00"))
    with postgres.connect() as conn:
        conn.execute(
            "UPDATE carpark.tick_progress SET processed_until = %s",
            (at("2026-11-27T08:00+08:00"),),
        )
    path = tmp_path / "lagging.csv"
    path.write_text(GOOD)
    outcome = land_file(postgres, path, InboxRules(), at("2026-11-27T07:30+08:00"))
    assert outcome.landed_at == at("2026-11-27T08:00+08:00")


def test_files_dropped_in_the_inbox_become_priced_sessions(postgres, search, tmp_path):
    """The inbox sensor asks for a landing run; the run lands the complete files and moves
    them; the next tick prices the sessions; a replay of the range changes nothing."""
    resources = pipeline_resources(postgres, search, tmp_path, seed=5, source="inbox")
    inbox = InboxResource(source="inbox", directory=str(tmp_path / "inbox"), settle_seconds=0)
    resources["inbox"] = inbox
    folder = Path(inbox.directory)
    folder.mkdir()

    def land(now: str) -> dg.ExecuteInProcessResult:
        clock = TickClockResource(start=START, now=now)
        return dg.materialize(
            [gate_event_files],
            resources={**resources, "tick_clock": clock},
            raise_on_error=False,
        )

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"inbox": inbox})
        assert isinstance(inbox_sensor(context), dg.SkipReason)  # nothing waits
        (folder / "good.csv").write_text(GOOD)
        (folder / "good-again.csv").write_text(GOOD)
        (folder / "broken.csv").write_bytes(BINARY)
        (folder / ".partial.csv.part").write_text(GOOD)  # still being written: left alone
        context = dg.build_sensor_context(instance=instance, resources={"inbox": inbox})
        request = inbox_sensor(context)
        assert isinstance(request, dg.RunRequest)

    first = land("2026-11-27T07:12+08:00")
    assert first.success
    metadata = first.asset_materializations_for_node("gate_event_files")[0].metadata
    assert metadata["files_landed"].value == 1
    assert metadata["files_seen_before"].value == 1
    assert metadata["files_refused"].value == 1
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["good-again.csv", "good.csv"]
    assert sorted(p.name for p in (folder / "rejected").iterdir()) == [
        "broken.csv",
        "broken.csv.reason",
    ]
    reason = (folder / "rejected" / "broken.csv.reason").read_text()
    assert reason.strip() and "PNG" not in reason
    assert (folder / ".partial.csv.part").exists()

    (folder / "late.jsonl").write_text(LATE)
    assert land("2026-11-27T07:40+08:00").success

    assert run_pipeline(resources, "2026-11-27T08:00+08:00").success
    sessions = rows(
        postgres,
        "SELECT plate, location_id, status, charge_cents, source FROM carpark.parking_sessions "
        "ORDER BY plate",
    )
    assert sessions == [
        ("SBA1234A", "Park0", "closed", 60, "inbox"),  # 07:01-07:10: one started half hour
        ("SKB77C", "Park1", "closed", 60, "inbox"),  # 07:05-07:30
    ]
    quarantine = rows(
        postgres,
        "SELECT record_key, source_file, line_number FROM carpark.quarantine "
        "ORDER BY source_file NULLS LAST, line_number",
    )
    keys = [q[0] for q in quarantine]
    assert [(q[1], q[2]) for q in quarantine] == [
        ("good.csv", 5),
        ("good.csv", 6),
        ("late.jsonl", 3),
        (None, None),  # l2: judged by the tick, beyond the lateness window
    ]
    assert keys[-1] == "l2"
    # Every event delivered once is kept, the quarantined late one too.
    assert rows(postgres, "SELECT count(*) FROM carpark.gate_events") == [(5,)]

    before = rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id")
    replayed = run_pipeline(
        resources, "2026-11-27T08:05+08:00", replay=("2026-11-27T07:00", "2026-11-27T08:00")
    )
    assert replayed.success
    assert rows(postgres, "SELECT * FROM carpark.parking_sessions ORDER BY session_id") == before


def test_carpark_ingest_prints_each_file_and_fails_when_one_is_refused(
    postgres, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres.dsn)
    monkeypatch.setenv("CARPARK_START", START)
    good, broken = tmp_path / "good.csv", tmp_path / "broken.jsonl"
    good.write_text(GOOD)
    broken.write_bytes(BINARY)

    assert main(["ingest", str(good)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "good.csv: 3 events (0 seen before), 2 records quarantined",
    ]
    assert main(["ingest", str(good), str(broken), str(tmp_path / "missing.csv")]) == 2
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "good.csv: already processed (same content as good.csv)"
    assert out[1].startswith("broken.jsonl: refused, ")
    assert out[2] == "missing.csv: refused, not a file"
    assert out[3] == "2 of 3 files refused; nothing of them was loaded"
    assert "PNG" not in "\n".join(out)
