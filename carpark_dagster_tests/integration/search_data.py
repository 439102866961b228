"""Sessions written straight into a test database, and what the search index holds.

The rows are what the pipeline writes (priced with the default tariff: 60 cents per started
30 minutes), made with one INSERT … SELECT generate_series so that tens of thousands take well
under a second. Every row of one call gets the same `updated_at` (the statement's `now()`), so
the keyset paging over equal timestamps is exercised too.
"""

from __future__ import annotations

from datetime import datetime

from carpark_dagster.resources import ElasticsearchResource, PostgresResource

INSERT_SESSIONS = """
INSERT INTO carpark.parking_sessions
    (session_id, plate, location_id, entry_event_id, exit_event_id, entry_time, exit_time,
     duration_seconds, charge_cents, tariff, updated_at, source, status)
SELECT 't-' || lpad(i::text, 7, '0'),
       'SBS' || (1000 + i %% 9000) || 'Z',
       'Park' || (i %% 6),
       'entry-' || i,
       CASE WHEN is_open THEN NULL ELSE 'exit-' || i END,
       entry_time,
       CASE WHEN is_open THEN NULL ELSE entry_time + minutes * interval '1 minute' END,
       CASE WHEN is_open THEN NULL ELSE minutes * 60 END,
       CASE WHEN is_open THEN NULL ELSE ceil(minutes / 30.0)::bigint * 60 END,
       'default',
       now(),
       'test',
       CASE WHEN is_open THEN 'open' ELSE 'closed' END
FROM generate_series(%(first)s::int, %(last)s::int) AS i,
     LATERAL (SELECT timestamptz '2026-11-27 07:00+08' + i * interval '20 seconds' AS entry_time,
                     (i * 7) %% 300 AS minutes,
                     %(open_every)s::int > 0 AND i %% %(open_every)s::int = 0 AS is_open) AS s
"""
CLOSED_TOTALS = """
SELECT location_id, count(*), sum(charge_cents) FROM carpark.parking_sessions
WHERE exit_time IS NOT NULL GROUP BY location_id ORDER BY location_id
"""
LAST_KEY = """
SELECT updated_at, session_id FROM carpark.parking_sessions
ORDER BY updated_at DESC, session_id DESC LIMIT 1
"""


def session_id(i: int) -> str:
    return f"t-{i:07d}"


def add_sessions(postgres: PostgresResource, first: int, last: int, open_every: int = 0) -> None:
    """Sessions `first`..`last` (ids t-0000001…); every `open_every`-th one still parked."""
    with postgres.connect() as conn:
        conn.execute(INSERT_SESSIONS, {"first": first, "last": last, "open_every": open_every})


def execute(postgres: PostgresResource, sql: str, *params: object) -> list[tuple]:
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def closed_ids(postgres: PostgresResource) -> set[str]:
    rows = execute(
        postgres, "SELECT session_id FROM carpark.parking_sessions WHERE exit_time IS NOT NULL"
    )
    return {r[0] for r in rows}


def postgres_totals(postgres: PostgresResource) -> dict[str, tuple[int, int]]:
    return {loc: (int(n), int(cents)) for loc, n, cents in execute(postgres, CLOSED_TOTALS)}


def last_key(postgres: PostgresResource) -> tuple[datetime, str]:
    (row,) = execute(postgres, LAST_KEY)
    return row[0], row[1]


def stored_watermark(postgres: PostgresResource, consumer: str = "es_index") -> tuple | None:
    rows = execute(
        postgres,
        "SELECT updated_at, session_id FROM carpark.sync_watermarks WHERE consumer = %s",
        consumer,
    )
    return rows[0] if rows else None


def documents(search: ElasticsearchResource, target: str | None = None) -> dict[str, dict]:
    """Every document behind the alias, by id, after a refresh (in pages of 10,000, so that
    none is left out; a document without a session id would be, and fails the count)."""
    found: dict[str, dict] = {}
    after: list | None = None
    with search.session_index() as index:
        index.refresh(target)
        total = index.count(target)
        while True:
            body = {"size": 10_000, "sort": [{"session_id": "asc"}], "query": {"match_all": {}}}
            if after is not None:
                body["search_after"] = after
            hits = index.engine.request("POST", f"/{target or search.alias}/_search", body=body)[
                "hits"
            ]["hits"]
            found.update((hit["_id"], hit["_source"]) for hit in hits)
            if len(hits) < 10_000:
                break
            after = hits[-1]["sort"]
    assert len(found) == total, f"read {len(found)} of {total} documents"
    return found


def index_totals(search: ElasticsearchResource) -> dict[str, tuple[int, int]]:
    with search.session_index() as index:
        index.refresh()
        return {
            t.location_id: (t.sessions, t.total_charge_cents) for t in index.totals_by_location()
        }


def indexing_operations(search: ElasticsearchResource) -> int:
    """How many index and delete operations the engine has performed on the current index."""
    with search.session_index() as index:
        current = index.current_index()
        stats = index.engine.request("GET", f"/{current}/_stats/indexing")
    primaries = stats["indices"][current]["primaries"]["indexing"]
    return int(primaries["index_total"]) + int(primaries["delete_total"])
