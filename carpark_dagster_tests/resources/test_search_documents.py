"""What the search resource sends, without services: documents, bulk lines, and a bulk to an
engine that is not there."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.resources.engines import ConnectionSettings, EngineError, connect
from carpark_dagster.resources.search import (
    SessionIndex,
    session_actions,
    session_document,
    session_source,
)

SGT = ZoneInfo("Asia/Singapore")


def closed(session_id: str = "s-1", **changes) -> StoredSession:
    row = StoredSession(
        session_id=session_id,
        plate="SBS3229P",
        location_id="Park0",
        entry_time=datetime(2026, 11, 28, 9, 15, tzinfo=SGT),
        exit_time=datetime(2026, 11, 28, 10, 47, 12, tzinfo=SGT),
        duration_seconds=5532,
        charge_cents=240,
        tariff="default",
        updated_at=datetime(2026, 11, 28, 2, 50, 0, 123456, tzinfo=UTC),
    )
    return row._replace(**changes)


def test_a_document_keeps_offsets_and_exact_money():
    assert session_document(closed()) == {
        "session_id": "s-1",
        "plate": "SBS3229P",
        "location_id": "Park0",
        "entry_time": "2026-11-28T09:15:00+08:00",
        "exit_time": "2026-11-28T10:47:12+08:00",
        "duration_minutes": 92,
        "charge_cents": 240,
        "charge": "2.40",
        "tariff": "default",
        "updated_at": "2026-11-28T02:50:00.123456+00:00",
    }
    assert session_document(closed(charge_cents=5))["charge"] == "0.05"
    assert session_document(closed(charge_cents=0))["charge"] == "0.00"
    assert session_document(closed(charge_cents=123_456_789))["charge"] == "1234567.89"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"plate": 'QUO"TE\\BACK', "tariff": "tarif\u00e9 \u505c\u8f66 \n"},
        {"session_id": "id/with:odd chars\t", "location_id": "Park\u00df"},
        {"charge_cents": 10**15, "duration_seconds": 59},
    ],
)
def test_the_fast_json_text_is_exactly_the_document(changes):
    row = closed(**changes)
    assert json.loads(session_source(row)) == session_document(row)


def test_a_time_without_offset_is_refused():
    with pytest.raises(ValueError, match="without an offset"):
        session_source(closed(entry_time=datetime(2026, 11, 28, 9, 15)))


def test_closed_sessions_are_indexed_and_open_ones_deleted():
    later = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    rows = [
        closed("a"),
        closed("b", exit_time=None, duration_seconds=None, charge_cents=None),
        closed("c", updated_at=later),
    ]

    actions = session_actions(rows, "carpark-sessions")

    assert [json.loads(line) for line, _ in actions] == [
        {"index": {"_index": "carpark-sessions", "_id": "a"}},
        {"delete": {"_index": "carpark-sessions", "_id": "b"}},
        {"index": {"_index": "carpark-sessions", "_id": "c"}},
    ]
    assert actions[1][1] is None
    # Each row keeps its own updated_at, though it is formatted once per distinct value.
    assert json.loads(actions[0][1])["updated_at"] == "2026-11-28T02:50:00.123456+00:00"
    assert json.loads(actions[2][1])["updated_at"] == "2026-11-28T03:00:00+00:00"


@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
def test_a_bulk_to_an_unreachable_engine_names_it_without_credentials(engine):
    """Both clients' `streaming_bulk` take the same options and fail the same way."""
    settings = ConnectionSettings(url="http://user:s3cret-pw@127.0.0.1:9", max_retries=0)
    index = SessionIndex(
        connect(settings, engine),
        alias="a",
        extra_aliases=(),
        shards=1,
        replicas=0,
        refresh_interval="5s",
    )
    with pytest.raises(EngineError, match=r"http://127\.0\.0\.1:9 is unreachable") as caught:
        list(index.bulk(session_actions([closed()], "a")))
    assert "POST /_bulk" in str(caught.value)
    assert "s3cret-pw" not in str(caught.value)
