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
    LAB_FIELD_ALIASES,
    REASON_MAX_CHARS,
    SESSION_FIELDS,
    SESSION_MAPPING,
    BulkItem,
    SessionIndex,
    alias_properties,
    delete_actions,
    is_rejection,
    rejection_reason,
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


# ----------------------------------------------------------------- refused documents


@pytest.mark.parametrize(
    ("status", "error_type", "refused"),
    [
        (400, "mapper_parsing_exception", True),  # a value the mapping cannot take (OpenSearch)
        (400, "document_parsing_exception", True),  # the same on Elasticsearch 8
        (400, "strict_dynamic_mapping_exception", True),
        (400, "illegal_argument_exception", True),  # e.g. an immense keyword term
        (413, "", True),
        (400, "index_closed_exception", False),  # the index, not the document
        (403, "cluster_block_exception", False),  # a write block (disk flood stage)
        (403, "security_exception", False),
        (401, "", False),
        (404, "index_not_found_exception", False),
        (429, "es_rejected_execution_exception", False),  # busy, still after the retries
        (500, "", False),
        (503, "unavailable_shards_exception", False),
        (None, "", False),  # no answer
    ],
)
def test_only_a_4xx_about_the_document_makes_a_dead_letter(status, error_type, refused):
    assert is_rejection(status, error_type) is refused
    item = BulkItem("s-1", "index", False, status, "", error_type)
    assert item.rejected is refused
    assert not BulkItem("s-1", "index", True).rejected


IMMENSE_TERM = {
    "type": "illegal_argument_exception",
    "reason": 'Document contains at least one immense term in field="plate" (whose UTF8 '
    "encoding is longer than the max length 32766), all of which were skipped. Please correct "
    "the analyzer to not produce such terms. The prefix of the first immense term is: "
    "'[83, 69, 67, 82, 69, 84]...', original message: bytes can be at most 32766 in length; "
    "got 40000",
    "caused_by": {
        "type": "max_bytes_length_exceeded_exception",
        "reason": "bytes can be at most 32766 in length; got 40000",
    },
}
OUT_OF_RANGE = {
    "type": "mapper_parsing_exception",
    "reason": "failed to parse field [duration_minutes] of type [integer] in document with id "
    "'SECRETPLATE-1'. Preview of field's value: '18325193796'",
    "caused_by": {
        "type": "input_coercion_exception",
        "reason": "Numeric value (18325193796) out of range of int (-2147483648 - 2147483647)",
    },
}


def test_a_refusal_reason_keeps_the_error_and_the_field_but_no_value_of_the_document():
    assert rejection_reason(OUT_OF_RANGE) == (
        "mapper_parsing_exception: failed to parse field [duration_minutes] of type [integer] "
        "in document with id '…' (caused by input_coercion_exception)"
    )
    immense = rejection_reason(IMMENSE_TERM)
    assert immense.startswith(
        "illegal_argument_exception: Document contains at least one immense term in field='…'"
    )
    assert immense.endswith("(caused by max_bytes_length_exceeded_exception)")
    for reason in (rejection_reason(OUT_OF_RANGE), immense):
        for value in ("18325193796", "SECRETPLATE", "83, 69", "40000"):
            assert value not in reason


def test_a_refusal_reason_is_one_short_line_whatever_the_engine_says():
    long = {"type": "mapper_parsing_exception", "reason": "failed\nto parse " + "x" * 5_000}
    reason = rejection_reason(long)
    assert len(reason) == REASON_MAX_CHARS and "\n" not in reason and reason.endswith("…")
    assert rejection_reason("plain 'text' error") == "plain '…' error"
    assert rejection_reason({"type": "strict_dynamic_mapping_exception"}) == (
        "strict_dynamic_mapping_exception"
    )


def test_deletes_of_documents_by_id():
    assert delete_actions(["s-1", 'odd"id'], "idx") == [
        ('{"delete":{"_index":"idx","_id":"s-1"}}', None),
        ('{"delete":{"_index":"idx","_id":"odd\\"id"}}', None),
    ]


def test_the_labs_dotted_names_become_object_paths_holding_the_aliases():
    assert alias_properties({"Parking_Charges": "charge", "LocationID.keyword": "location_id"}) == {
        "Parking_Charges": {"type": "alias", "path": "charge"},
        "LocationID": {"properties": {"keyword": {"type": "alias", "path": "location_id"}}},
    }
    properties = SESSION_MAPPING["properties"]
    # Every alias points at a real field of the mapping, and no real field is shadowed.
    for name, path in LAB_FIELD_ALIASES.items():
        assert path in SESSION_FIELDS
        assert name.split(".")[0] not in SESSION_FIELDS
        assert name.split(".")[0] in properties
