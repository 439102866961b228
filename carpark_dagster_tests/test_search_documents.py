"""What the sync sends, without services: documents, bulk lines, the watermark's prefix, the
reconciliation, and the settings read from the environment."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from carpark_dagster.definitions import defs
from carpark_dagster.domain.sessions import StoredSession
from carpark_dagster.resources.engines import ConnectionSettings, EngineError, connect
from carpark_dagster.resources.search import (
    LocationTotals,
    SessionIndex,
    session_actions,
    session_document,
    session_source,
)
from carpark_dagster.settings import build_resources
from carpark_dagster.sync import acknowledged_prefix, totals_differences

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


def test_the_watermark_may_pass_only_the_rows_before_the_first_unacknowledged():
    rows = [closed(i) for i in "abcde"]
    # Answers can come back out of order (429 retries): acknowledgement is by id.
    assert acknowledged_prefix(rows, {"b", "a", "d", "e"}) == rows[:2]
    assert acknowledged_prefix(rows, set("abcde")) == rows
    assert acknowledged_prefix(rows, {"b"}) == []


def test_reconciliation_names_every_location_that_differs():
    postgres = pd.DataFrame(
        [("Park0", 3, 300), ("Park1", 2, 120), ("Park2", 1, 60)],
        columns=["location_id", "sessions", "total_charge_cents"],
    )
    index = [
        LocationTotals("Park0", 3, 300),
        LocationTotals("Park1", 2, 180),  # a charge differs
        LocationTotals("Park9", 1, 1),  # a location PostgreSQL does not have
    ]  # and Park2 is missing

    differences = totals_differences(postgres, index)

    assert [d["location_id"] for d in differences] == ["Park1", "Park2", "Park9"]
    assert differences[1] == {
        "location_id": "Park2",
        "postgres_sessions": 1,
        "index_documents": 0,
        "postgres_charge_cents": 60,
        "index_charge_cents": 0,
    }
    assert (
        totals_differences(postgres, [LocationTotals(*r) for r in postgres.itertuples(False)]) == []
    )


def test_search_settings_come_from_the_environment(monkeypatch):
    for name, value in {
        "CARPARK_ES_URL": "https://es.example:9200",
        "CARPARK_ES_API_KEY": "a2V5",
        "CARPARK_ES_CA_CERTS": "/etc/ssl/es-ca.crt",
        "CARPARK_ES_TIMEOUT_S": "12.5",
        "CARPARK_ES_MAX_RETRIES": "7",
        "CARPARK_ES_ALIAS": "carpark-staging",
        "CARPARK_ES_LEGACY_ALIAS": "none",
        "CARPARK_ES_SHARDS": "3",
        "CARPARK_ES_REPLICAS": "1",
        "CARPARK_ES_REFRESH_INTERVAL": "30s",
    }.items():
        monkeypatch.setenv(name, value)

    search = build_resources(resolve=True)["search"]

    assert search.url == "https://es.example:9200"
    assert search.verify_certs is True  # on unless switched off explicitly
    settings = search.settings()
    assert (settings.api_key, settings.ca_certs) == ("a2V5", "/etc/ssl/es-ca.crt")
    assert (settings.request_timeout_s, settings.max_retries) == (12.5, 7)
    assert (search.alias, search.legacy_alias) == ("carpark-staging", None)
    assert (search.shards, search.replicas, search.refresh_interval) == (3, 1, "30s")


def test_the_defaults_keep_the_lab_alias(monkeypatch):
    monkeypatch.delenv("CARPARK_ES_ALIAS", raising=False)
    monkeypatch.delenv("CARPARK_ES_LEGACY_ALIAS", raising=False)
    search = build_resources(resolve=True)["search"]
    assert (search.alias, search.legacy_alias) == ("carpark-sessions", "frompostgresql")
    assert (search.shards, search.replicas, search.refresh_interval) == (1, 0, "5s")


def test_the_rebuild_job_is_defined():
    job = defs.resolve_job_def("rebuild_search_index")
    assert [node.name for node in job.nodes] == ["rebuild_search_index_from_postgres"]


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
