"""The search sync's rules that need no service: how far the watermark may move, the pages
read ahead while the current one is sent, and what becomes a dead letter or an outage."""

from datetime import UTC, datetime, timedelta

from carpark_dagster.domain.sessions import EPOCH_WATERMARK, DeadLetter, StoredSession, Watermark
from carpark_dagster.lib.search_retry import RetryOutcome
from carpark_dagster.lib.search_sync import (
    PageResult,
    acknowledged_prefix,
    engine_failed_documents,
    prefetched_pages,
)
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.search import BulkItem

T0 = datetime(2026, 11, 28, 2, 50, tzinfo=UTC)


def stored(session_id: str, second: int = 0) -> StoredSession:
    return StoredSession(
        session_id=session_id,
        plate="SBS3229P",
        location_id="Park0",
        entry_time=T0 - timedelta(hours=1),
        exit_time=T0,
        duration_seconds=3600,
        charge_cents=120,
        tariff="default",
        updated_at=T0 + timedelta(seconds=second),
    )


def test_the_watermark_may_pass_only_the_rows_before_the_first_unacknowledged():
    rows = [stored(i) for i in "abcde"]
    # Answers can come back out of order (429 retries): acknowledgement is by id.
    assert acknowledged_prefix(rows, {"b", "a", "d", "e"}) == rows[:2]
    assert acknowledged_prefix(rows, set("abcde")) == rows
    assert acknowledged_prefix(rows, {"b"}) == []


def test_pages_follow_the_keyset_and_stop_after_a_short_page():
    table = [stored(f"s{i:02d}", second=i // 2) for i in range(7)]  # pairs share a time
    asked: list[Watermark] = []

    def read(after: Watermark) -> list[StoredSession]:
        asked.append(after)
        return [r for r in table if (r.updated_at, r.session_id) > after][:3]

    pages = list(prefetched_pages(read, EPOCH_WATERMARK, page_size=3, target="idx"))

    assert [[r.session_id for r in p.rows] for p in pages] == [
        ["s00", "s01", "s02"],
        ["s03", "s04", "s05"],
        ["s06"],
    ]
    # No read after the short last page; each read starts after the previous page's last key.
    assert asked == [EPOCH_WATERMARK, pages[0].last_key, pages[1].last_key]
    assert [len(p.actions) for p in pages] == [3, 3, 1]


def test_documents_the_engine_failed_read_as_an_outage_naming_the_first():
    failed = [
        BulkItem("s-1", "index", False, 503, "unavailable_shards_exception: primary shard"),
        BulkItem("s-2", "index", False, 503, "unavailable_shards_exception: primary shard"),
    ]
    error = engine_failed_documents(failed, "http://127.0.0.1:9200")
    assert isinstance(error, EngineError)
    assert error.status == 503
    assert str(error) == (
        "search engine at http://127.0.0.1:9200 failed 2 documents (first: s-1, status 503, "
        "unavailable_shards_exception: primary shard)"
    )


def test_a_page_result_turns_refusals_into_dead_letters():
    result = PageResult(
        rejected=[BulkItem("s-3", "index", False, 400, "mapper_parsing_exception: x", "m")]
    )
    assert result.dead_letters() == [DeadLetter("s-3", 400, "mapper_parsing_exception: x")]
    assert result.failures == [
        {"id": "s-3", "op": "index", "status": 400, "reason": "mapper_parsing_exception: x"}
    ]


def test_a_retry_reports_what_is_still_refused_and_says_when_there_was_nothing():
    assert RetryOutcome().lines() == ["no search dead letters: nothing to retry"]
    outcome = RetryOutcome(
        tried=3,
        indexed=1,
        deleted=1,
        still_refused=[DeadLetter("s-9", 400, "mapper_parsing_exception: y")],
        seconds=0.25,
    )
    assert outcome.lines() == [
        "retried 3 search dead letters in 0.2 s:",
        "  indexed                1  (left the dead letters)",
        "  deleted                1  (open again, or no longer stored)",
        "  still refused          1",
        "    s-9: status 400, mapper_parsing_exception: y",
    ]


def test_a_page_sends_nothing_for_sessions_never_closed():
    parked = stored("p")._replace(exit_time=None, duration_seconds=None, charge_cents=None)
    rows = [
        stored("a"),
        parked._replace(ever_closed=False),  # drove in, still parked: no document
        parked._replace(session_id="r"),  # re-opened by a late exit: its document goes
    ]
    [page] = list(prefetched_pages(lambda after: rows, EPOCH_WATERMARK, 10, target="idx"))
    assert page.skipped == frozenset({"p"})
    assert [action.split('"_id":')[1] for action, _ in page.actions] == ['"a"}}', '"r"}}']
    assert page.actions[1][0].startswith('{"delete"')
