"""The search sync against the real PostgreSQL and OpenSearch node: first and incremental
syncs, updates, re-opened sessions, the engine away for three ticks, a
sync killed with SIGKILL mid-bulk, and the reconciliation check."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest

from carpark_dagster.defs.tick import assets
from carpark_dagster.defs.tick.assets import SEARCH_MATCHES_POSTGRES
from carpark_dagster.domain.sessions import EPOCH_WATERMARK
from carpark_dagster.lib.search_sync import (
    SyncInterrupted,
    SyncOutcome,
    sync_changed_sessions,
)
from carpark_dagster.resources import (
    ElasticsearchResource,
    PostgresResource,
)
from carpark_dagster.resources import search as search_resource
from carpark_dagster.resources.engines import POOL_SIZE, EngineError
from carpark_dagster.resources.locks import AdvisoryLock
from carpark_dagster.resources.postgres import (
    CREATE_SESSION_STAGE,
    MERGE_SESSIONS,
    STAGED_SESSION_COLUMNS,
)
from carpark_dagster.resources.search import (
    KEYWORD_IGNORE_ABOVE,
    SESSION_FIELDS,
    SESSION_MAPPING,
    SessionIndex,
)
from carpark_dagster_tests.integration.conftest import SEARCH_URL
from carpark_dagster_tests.integration.pipeline_runs import pipeline_resources, run_pipeline
from carpark_dagster_tests.integration.search_data import (
    add_sessions,
    closed_ids,
    documents,
    execute,
    index_totals,
    indexing_operations,
    last_key,
    postgres_totals,
    session_id,
    stored_watermark,
)

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("test_search_sync")


def sync(postgres: PostgresResource, search: ElasticsearchResource, **options) -> SyncOutcome:
    with search.session_index() as index:
        return sync_changed_sessions(postgres, index, log, **options)


def touch(postgres: PostgresResource, sql_set: str, *ids: str) -> None:
    """Change sessions the way a tick does: new values and a new `updated_at`."""
    execute(
        postgres,
        f"UPDATE carpark.parking_sessions SET {sql_set}, updated_at = now() "
        "WHERE session_id = ANY(%s)",
        list(ids),
    )


def rows_after(postgres: PostgresResource, mark: tuple) -> int:
    return execute(
        postgres,
        "SELECT count(*) FROM carpark.parking_sessions WHERE (updated_at, session_id) > (%s, %s)",
        *mark,
    )[0][0]


# ---------------------------------------------------------------------------- index layout


def test_the_index_is_versioned_behind_both_aliases_with_a_strict_mapping(search):
    layout = ElasticsearchResource(
        url=SEARCH_URL, alias=search.alias, legacy_alias=f"{search.alias}-lab"
    )
    with layout.session_index() as index:
        assert index.ensure() == f"{search.alias}-v1"
        assert index.ensure() == f"{search.alias}-v1"  # idempotent: no second index
        engine = index.engine
        template = engine.request("GET", f"/_index_template/{search.alias}")["index_templates"][0]
        aliases = engine.request("GET", f"/{search.alias}-v*/_alias")
        mapping = engine.request("GET", f"/{search.alias}/_mapping")
        settings = engine.request("GET", f"/{search.alias}/_settings")

    body = template["index_template"]
    assert body["index_patterns"] == [f"{search.alias}-v*"]
    assert body["template"]["settings"]["index"] == {
        "number_of_shards": "1",
        "number_of_replicas": "0",
        "refresh_interval": "5s",
    }
    assert aliases == {
        f"{search.alias}-v1": {"aliases": {search.alias: {}, f"{search.alias}-lab": {}}}
    }
    (index_mapping,) = (m["mappings"] for m in mapping.values())
    assert index_mapping["dynamic"] == "strict"
    assert index_mapping["properties"] == SESSION_MAPPING["properties"]
    types = {name: spec.get("type", "object") for name, spec in index_mapping["properties"].items()}
    assert types == {
        "session_id": "keyword",
        "plate": "keyword",
        "location_id": "keyword",
        "entry_time": "date",
        "exit_time": "date",
        "duration_minutes": "integer",
        "charge_cents": "long",
        "charge": "scaled_float",
        "tariff": "keyword",
        "updated_at": "date",
        # The lab's names: field aliases (docs/dashboards.md).
        "Entry_DateTime": "alias",
        "Exit_DateTime": "alias",
        "Parking_Charges": "alias",
        "LocationID": "object",
        "Plate": "object",
    }
    assert index_mapping["properties"]["LocationID"] == {
        "properties": {"keyword": {"type": "alias", "path": "location_id"}}
    }
    (index_settings,) = (s["settings"]["index"] for s in settings.values())
    assert (index_settings["number_of_shards"], index_settings["refresh_interval"]) == ("1", "5s")


def test_ensure_upgrades_a_live_index_in_place(search):
    """An index from an older version (no `tariff` field, keywords without `ignore_above`,
    none of the lab's field aliases, refreshes left off by a crashed load): the next sync adds
    the field, the guard and the aliases and restores the refresh interval."""
    old_mapping = {
        "dynamic": "strict",
        "properties": {
            k: {"type": "keyword"} if v["type"] == "keyword" else v
            for k, v in SESSION_FIELDS.items()
            if k != "tariff"
        },
    }
    with search.session_index() as index:
        index.engine.request(
            "PUT",
            f"/{search.alias}-v1",
            body={
                "settings": {"refresh_interval": "-1"},
                "mappings": old_mapping,
                "aliases": {search.alias: {}},
            },
        )
        assert index.ensure() == f"{search.alias}-v1"
        mapping = index.engine.request("GET", f"/{search.alias}-v1/_mapping")
        settings = index.engine.request("GET", f"/{search.alias}-v1/_settings")
    properties = mapping[f"{search.alias}-v1"]["mappings"]["properties"]
    assert properties["tariff"] == {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    # An index made before keywords had `ignore_above` gets it in place, no rebuild needed.
    assert properties["plate"] == {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    assert settings[f"{search.alias}-v1"]["settings"]["index"]["refresh_interval"] == "5s"
    # The lab's names, added to the live index: no rebuild needed either.
    assert properties["Parking_Charges"] == {"type": "alias", "path": "charge"}
    assert properties["LocationID"]["properties"]["keyword"] == {
        "type": "alias",
        "path": "location_id",
    }
    assert properties["Plate"]["properties"]["keyword"] == {"type": "alias", "path": "plate"}


# ---------------------------------------------------------------------------- the sync


def test_first_sync_indexes_closed_sessions_as_iso_documents(postgres, search):
    add_sessions(postgres, 1, 1_200, open_every=40)  # 30 of them still parked

    outcome = sync(postgres, search, page_size=500)

    assert (outcome.indexed, outcome.deleted, outcome.dead_lettered) == (1_170, 30, [])
    assert outcome.pages == 3  # 500 + 500 + 200, the last one short
    assert outcome.started_from == EPOCH_WATERMARK
    assert outcome.watermark == last_key(postgres) == stored_watermark(postgres)
    docs = documents(search)
    assert set(docs) == closed_ids(postgres)
    assert len(docs) == 1_170
    # Session 7: entry 07:02:20 Singapore time, (7 * 7) % 300 = 49 minutes, two started
    # half-hours at 60 cents.
    doc = docs[session_id(7)]
    updated_at = execute(
        postgres,
        "SELECT updated_at FROM carpark.parking_sessions WHERE session_id = %s",
        session_id(7),
    )[0][0]
    assert doc == {
        "session_id": session_id(7),
        "plate": "SBS1007Z",
        "location_id": "Park1",
        "entry_time": "2026-11-26T23:02:20+00:00",
        "exit_time": "2026-11-26T23:51:20+00:00",
        "duration_minutes": 49,
        "charge_cents": 120,
        "charge": "1.20",
        "tariff": "default",
        "updated_at": updated_at.isoformat(),
    }
    assert index_totals(search) == postgres_totals(postgres)


def test_incremental_sync_sends_only_what_changed_since_the_watermark(postgres, search):
    add_sessions(postgres, 1, 1_000)
    first = sync(postgres, search)
    add_sessions(postgres, 1_001, 1_250)

    second = sync(postgres, search)

    assert (second.indexed, second.deleted) == (250, 0)
    assert second.started_from == first.watermark
    assert second.watermark == last_key(postgres)
    assert set(documents(search)) == closed_ids(postgres)
    assert len(closed_ids(postgres)) == 1_250


def test_re_syncing_an_unchanged_table_sends_nothing(postgres, search):
    add_sessions(postgres, 1, 800, open_every=10)
    first = sync(postgres, search)
    operations = indexing_operations(search)

    again = sync(postgres, search)

    assert (again.sent, again.pages, again.dead_lettered) == (0, 0, [])
    assert again.watermark == first.watermark == stored_watermark(postgres)
    assert indexing_operations(search) == operations  # the engine saw no write at all


def test_an_updated_session_overwrites_its_document(postgres, search):
    add_sessions(postgres, 1, 100)
    sync(postgres, search)
    touch(
        postgres,
        "exit_time = entry_time + interval '3 hours', duration_seconds = 10800, charge_cents = 360",
        session_id(42),
    )

    outcome = sync(postgres, search)

    assert (outcome.indexed, outcome.deleted) == (1, 0)
    docs = documents(search)
    assert len(docs) == 100  # overwritten, not added
    assert docs[session_id(42)]["charge_cents"] == 360
    assert docs[session_id(42)]["charge"] == "3.60"
    assert docs[session_id(42)]["duration_minutes"] == 180
    with search.session_index() as index:
        stored = index.engine.request("GET", f"/{search.alias}/_doc/{session_id(42)}")
    assert stored["_version"] == 2
    assert index_totals(search) == postgres_totals(postgres)


def test_a_session_re_opened_in_postgres_is_deleted_from_the_index(postgres, search):
    add_sessions(postgres, 1, 100)
    sync(postgres, search)
    # A late exit moved this session's exit to another stay: it is open again.
    touch(
        postgres,
        "exit_event_id = NULL, exit_time = NULL, duration_seconds = NULL, charge_cents = NULL, "
        "status = 'open'",
        session_id(13),
    )

    outcome = sync(postgres, search)

    assert (outcome.indexed, outcome.deleted) == (0, 1)
    docs = documents(search)
    assert session_id(13) not in docs
    assert len(docs) == 99
    assert index_totals(search) == postgres_totals(postgres)


# ---------------------------------------------------------------------------- the asset


def _materialize_sync(postgres, search) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [assets.es_index, assets.location_earnings],
        resources={"postgres": postgres, "search": search},
        raise_on_error=False,
    )


def test_reconciliation_blocks_earnings_when_the_index_disagrees(postgres, search):
    add_sessions(postgres, 1, 60)
    assert _materialize_sync(postgres, search).success
    # A document lost behind the sync's back (say, deleted by hand in Kibana).
    with search.session_index() as index:
        index.engine.request(
            "DELETE", f"/{search.alias}-v1/_doc/{session_id(6)}", params={"refresh": "true"}
        )

    result = _materialize_sync(postgres, search)

    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.check_name == SEARCH_MATCHES_POSTGRES
    ]
    assert not check.passed
    (difference,) = check.metadata["differences"].value
    assert difference["location_id"] == "Park0"  # 6 % 6
    assert difference["index_documents"] == difference["postgres_sessions"] - 1
    # Its 42 minutes cost two started half-hours.
    assert difference["postgres_charge_cents"] - difference["index_charge_cents"] == 120
    assert result.asset_materializations_for_node("location_earnings") == []


def test_three_ticks_with_the_engine_away_then_one_catches_up(postgres, search, tmp_path):
    # Nothing listens on port 9; the credentials must never show in a message.
    away = ElasticsearchResource(
        url="http://elastic:s3cret-pw@127.0.0.1:9",
        alias=search.alias,
        legacy_alias=None,
        max_retries=0,
    )
    # Two hours of traffic in the first tick, then five-minute windows.
    ticks = ["2026-11-27T09:00+08:00", "2026-11-27T09:05+08:00", "2026-11-27T09:10+08:00"]
    closed_after_each = []
    for at in ticks:
        result = run_pipeline(pipeline_resources(postgres, away, tmp_path, seed=7), at)
        assert not result.success
        # PostgreSQL took the tick all the same: carpark_table is an earlier asset.
        assert result.asset_materializations_for_node("carpark_table")
        failure = result.failure_data_for_node("es_index").user_failure_data
        assert "http://127.0.0.1:9 is unreachable" in failure.description
        assert "s3cret-pw" not in failure.description
        assert "s3cret-pw" not in str(failure.metadata)
        closed_after_each.append(len(closed_ids(postgres)))
    assert closed_after_each[-1] > 0
    assert stored_watermark(postgres) is None  # nothing was acknowledged

    result = run_pipeline(
        pipeline_resources(postgres, search, tmp_path, seed=7), "2026-11-27T09:15+08:00"
    )

    assert result.success
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.check_name == SEARCH_MATCHES_POSTGRES
    ]
    assert check.passed
    assert set(documents(search)) == closed_ids(postgres)
    (materialization,) = result.asset_materializations_for_node("es_index")
    assert materialization.metadata["documents_indexed"].value == len(closed_ids(postgres))
    assert index_totals(search) == postgres_totals(postgres)


# ---------------------------------------------------------------------------- crash


SYNC_IN_A_CHILD = """
import logging, sys
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.lib.search_sync import sync_changed_sessions

dsn, url, alias, page_size = sys.argv[1:]
postgres = PostgresResource(dsn=dsn)
search = ElasticsearchResource(url=url, alias=alias, legacy_alias=None)
with search.session_index() as index:
    sync_changed_sessions(postgres, index, logging.getLogger("child"), page_size=int(page_size))
"""


def test_a_sync_killed_mid_bulk_is_caught_up_by_the_next(postgres, postgres_dsn, search):
    total = 30_000
    add_sessions(postgres, 1, total)
    child = subprocess.Popen(
        [sys.executable, "-c", SYNC_IN_A_CHILD, postgres_dsn, SEARCH_URL, search.alias, "500"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        # Kill it as soon as the first page is acknowledged: the next bulk is under way.
        deadline = time.monotonic() + 60
        while stored_watermark(postgres) is None:
            assert child.poll() is None, "the sync ended before its first page was committed"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    at_kill = stored_watermark(postgres)
    assert at_kill < last_key(postgres)  # killed part-way
    remaining = rows_after(postgres, at_kill)
    assert 0 < remaining < total

    outcome = sync(postgres, search)

    # From the committed watermark on: what the killed process sent and did not commit is
    # sent again, and overwrites itself.
    assert outcome.started_from == at_kill
    assert (outcome.indexed, outcome.dead_lettered) == (remaining, [])
    assert outcome.watermark == last_key(postgres)
    with search.session_index() as index:
        index.refresh()
        assert index.count() == total
    assert index_totals(search) == postgres_totals(postgres)


class CuttableProxy:
    """A loopback TCP relay to the search node that can be cut: the engine "goes away"
    mid-sync without stopping the node, which others use."""

    def __init__(self, target: str):
        parts = urlsplit(target)
        self._target = (parts.hostname, parts.port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:  # cut
                return
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, sink), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_an_engine_lost_mid_sync_keeps_what_it_acknowledged(postgres, search, monkeypatch):
    total = 20_000
    add_sessions(postgres, 1, total)
    proxy = CuttableProxy(SEARCH_URL)
    through_proxy = ElasticsearchResource(
        url=proxy.url, alias=search.alias, legacy_alias=None, max_retries=0
    )
    # The engine goes away right after the first page's watermark is committed (in the
    # sync's own thread: no race with a sync faster than a watcher).
    settle = PostgresResource.settle_search_page

    def settle_then_cut(self, *args, **kwargs):
        settle(self, *args, **kwargs)
        proxy.cut()

    monkeypatch.setattr(PostgresResource, "settle_search_page", settle_then_cut)
    with pytest.raises(SyncInterrupted) as caught:
        sync(postgres, through_proxy, page_size=500)
    monkeypatch.undo()

    assert f"{proxy.url} is unreachable" in str(caught.value)
    kept = caught.value.outcome
    assert kept.watermark == stored_watermark(postgres)  # committed before raising
    assert EPOCH_WATERMARK < kept.watermark < last_key(postgres)

    caught_up = sync(postgres, search)
    assert caught_up.started_from == kept.watermark
    assert caught_up.indexed == rows_after(postgres, kept.watermark)
    with search.session_index() as index:
        index.refresh()
        assert index.count() == total
    assert index_totals(search) == postgres_totals(postgres)


def test_a_sync_waits_while_a_rebuild_holds_the_lock(postgres, search):
    add_sessions(postgres, 1, 100)
    outcomes: list[SyncOutcome] = []
    with postgres.connect() as rebuild_conn:
        rebuild_conn.execute("SELECT pg_advisory_lock(%s)", (AdvisoryLock.SEARCH_SYNC,))
        waiting = threading.Thread(target=lambda: outcomes.append(sync(postgres, search)))
        waiting.start()
        time.sleep(1.5)
        assert waiting.is_alive()
        assert stored_watermark(postgres) is None  # nothing sent while it waits
        rebuild_conn.execute("SELECT pg_advisory_unlock(%s)", (AdvisoryLock.SEARCH_SYNC,))
    waiting.join(timeout=30)
    (outcome,) = outcomes
    assert outcome.indexed == 100


# ---------------------------------------------------------------------------- commit order


def test_a_tick_that_commits_after_a_later_one_started_still_reaches_the_index(
    postgres, search, monkeypatch
):
    """Tick A takes its updated_at, then is slow to commit; tick B starts meanwhile; a sync
    runs before A commits. updated_at follows commit order (the tick lock, then
    clock_timestamp()), so the next sync finds every row.
    Without the lock, B would commit first, the sync would move the watermark past A's
    updated_at, and A's sessions would never reach the index."""
    from carpark_dagster.resources import postgres as postgres_module
    from carpark_dagster_tests.integration.test_postgres import tick_of

    copy_rows = postgres_module.copy_rows
    a_is_writing, a_may_commit = threading.Event(), threading.Event()

    def slow_for_a(conn, table, rows):
        copy_rows(conn, table, rows)
        if threading.current_thread().name == "tick-a" and table == "carpark.parking_sessions":
            a_is_writing.set()
            assert a_may_commit.wait(30)

    monkeypatch.setattr(postgres_module, "copy_rows", slow_for_a)
    tick_a = threading.Thread(
        name="tick-a", target=postgres.record_tick, args=(tick_of([("a1", 0, 40)]), "test")
    )
    # Another location: the per-location totals, updated by a trigger, would make B wait for
    # A's row lock anyway.
    other = tick_of([("b1", 5, 45)])
    other = dataclasses.replace(other, sessions=other.sessions.assign(location_id="Park1"))
    tick_b = threading.Thread(name="tick-b", target=postgres.record_tick, args=(other, "test"))
    tick_a.start()
    assert a_is_writing.wait(30)
    tick_b.start()
    time.sleep(1)  # B is in its transaction now, waiting or not
    first = sync(postgres, search)
    a_may_commit.set()
    tick_a.join(30)
    tick_b.join(30)

    second = sync(postgres, search)

    assert first.indexed + second.indexed == 2
    assert set(documents(search)) == {"a1", "b1"} == closed_ids(postgres)


def test_a_tick_that_began_first_but_commits_last_still_reaches_the_index(
    postgres, search, monkeypatch
):
    """Tick B opens its transaction first, then is slow to take the tick lock; tick A begins
    after it, commits, and a sync moves the watermark past A's rows; then B commits. B's rows
    must still be above the watermark: updated_at is read after the lock (clock_timestamp),
    not at the transaction's start (now() would put them below it, lost to the index)."""
    from concurrent.futures import ThreadPoolExecutor

    from carpark_dagster.resources import postgres as postgres_module
    from carpark_dagster_tests.integration.test_postgres import tick_of

    b_has_begun, b_may_go = threading.Event(), threading.Event()

    class SlowForB(ThreadPoolExecutor):
        # record_tick makes its exit-log thread after BEGIN and before taking the lock.
        def submit(self, fn, /, *args, **kwargs):
            if threading.current_thread().name == "tick-b":
                b_has_begun.set()
                assert b_may_go.wait(30)
            return super().submit(fn, *args, **kwargs)

    monkeypatch.setattr(postgres_module, "ThreadPoolExecutor", SlowForB)
    other = tick_of([("b1", 5, 45)])
    other = dataclasses.replace(other, sessions=other.sessions.assign(location_id="Park1"))
    tick_b = threading.Thread(name="tick-b", target=postgres.record_tick, args=(other, "test"))
    tick_b.start()
    assert b_has_begun.wait(30)
    time.sleep(0.05)  # B's transaction is older than A's by a clear margin
    postgres.record_tick(tick_of([("a1", 0, 40)]), "test")
    first = sync(postgres, search)
    b_may_go.set()
    tick_b.join(30)

    second = sync(postgres, search)

    assert (first.indexed, second.indexed) == (1, 1)
    assert set(documents(search)) == {"a1", "b1"} == closed_ids(postgres)


@pytest.mark.services
def test_sessions_never_closed_are_skipped_and_a_re_opened_one_is_still_deleted(
    postgres, search, tmp_path
):
    """Cars that drive in have no document: the sync sends nothing for them (the first
    tick of a fresh install deletes nothing), though it moves past them; a session once
    closed keeps `ever_closed` through the merge, so re-opening it still deletes its
    document."""
    result = run_pipeline(
        pipeline_resources(postgres, search, tmp_path, seed=5), "2026-11-27T08:30+08:00"
    )
    assert result.success
    [materialization] = result.asset_materializations_for_node("es_index")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    never_closed, closed_flagged_wrong = execute(
        postgres,
        "SELECT count(*) FILTER (WHERE status <> 'closed'), "
        "       count(*) FILTER (WHERE status = 'closed' AND NOT ever_closed) "
        "FROM carpark.parking_sessions",
    )[0]
    assert never_closed > 100 and closed_flagged_wrong == 0
    assert metadata["never_closed_skipped"] == never_closed
    assert metadata["documents_deleted"] == 0
    assert metadata["documents_indexed"] == len(closed_ids(postgres))
    assert last_key(postgres) == stored_watermark(postgres)  # moved past the skipped rows

    # A late exit re-opens a closed session, through the tick's own merge.
    [victim] = sorted(closed_ids(postgres))[:1]
    with postgres.connect() as conn, conn.transaction():
        conn.execute(CREATE_SESSION_STAGE)
        conn.execute(
            f"INSERT INTO stage_sessions ({STAGED_SESSION_COLUMNS}) "
            f"SELECT {STAGED_SESSION_COLUMNS.replace('ever_closed', 'false')} "
            "FROM carpark.parking_sessions WHERE session_id = %s",
            (victim,),
        )
        conn.execute(
            "UPDATE stage_sessions SET exit_event_id = NULL, exit_time = NULL, "
            "duration_seconds = NULL, charge_cents = NULL, status = 'open', "
            "updated_at = clock_timestamp()"
        )
        assert conn.execute(MERGE_SESSIONS).rowcount == 1
    assert execute(
        postgres,
        "SELECT status, ever_closed FROM carpark.parking_sessions WHERE session_id = %s",
        victim,
    ) == [("open", True)]
    outcome = sync(postgres, search)
    assert (outcome.indexed, outcome.deleted, outcome.skipped) == (0, 1, 0)
    assert victim not in documents(search)
    assert index_totals(search) == postgres_totals(postgres)


def test_a_page_larger_than_a_request_goes_as_concurrent_streams(
    postgres, search, monkeypatch, caplog
):
    """Pages beyond one request are sent as BULK_STREAMS concurrent streams: every action is
    answered once, whichever stream carried it; the client keeps a connection per stream."""
    monkeypatch.setattr(search_resource, "BULK_CHUNK_DOCS", 50)
    add_sessions(postgres, 1, 1000, open_every=7)
    streams: list[str] = []
    original = SessionIndex._bulk_stream

    def recorded(self, actions):
        streams.append(threading.current_thread().name)
        return original(self, actions)

    monkeypatch.setattr(SessionIndex, "_bulk_stream", recorded)
    outcome = sync(postgres, search, page_size=1000)

    assert len(streams) == search_resource.BULK_STREAMS
    assert search_resource.BULK_STREAMS <= POOL_SIZE
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]
    assert all(name.startswith("search-bulk") for name in streams)
    assert outcome.indexed == len(closed_ids(postgres)) == 1000 - 1000 // 7
    assert outcome.sent + outcome.skipped == 1000
    assert last_key(postgres) == stored_watermark(postgres)
    assert index_totals(search) == postgres_totals(postgres)


def test_a_stream_that_fails_keeps_what_the_others_acknowledged(postgres, search, monkeypatch):
    """When the engine fails one stream, the answers of the others (and the failing
    stream's before its failure) still count: the watermark moves past the acknowledged
    prefix, and the next sync sends the rest."""
    monkeypatch.setattr(search_resource, "BULK_CHUNK_DOCS", 50)
    add_sessions(postgres, 1, 400)
    original = SessionIndex._bulk_stream

    def second_half_fails(self, actions):
        if session_id(1) in actions[0][0]:
            yield from original(self, actions)
            return
        yield from original(self, actions[:10])
        raise EngineError("search engine at test is unreachable (cut by the test)")

    monkeypatch.setattr(SessionIndex, "_bulk_stream", second_half_fails)
    with pytest.raises(SyncInterrupted) as caught:
        sync(postgres, search, page_size=400)
    kept = caught.value.outcome
    assert kept.indexed == 210  # the first stream's 200, the second's first 10
    # The watermark stops before the first unacknowledged row, the second stream's 11th.
    assert kept.watermark[1] == session_id(210)
    monkeypatch.undo()

    caught_up = sync(postgres, search)
    assert caught_up.indexed == 190
    assert index_totals(search) == postgres_totals(postgres)
