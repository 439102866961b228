"""The search sync's rules that need no service: how far the watermark may move, and the
pages read ahead while the current one is sent."""

from datetime import UTC, datetime, timedelta

from carpark_dagster.domain.sessions import EPOCH_WATERMARK, StoredSession, Watermark
from carpark_dagster.lib.search_sync import acknowledged_prefix, prefetched_pages

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
