"""The zero-downtime rebuild against the real PostgreSQL and OpenSearch node."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest

from carpark_dagster.cli import main
from carpark_dagster.defs.maintenance.search_rebuild import rebuild_search_index as rebuild_job
from carpark_dagster.lib.search_rebuild import (
    MAX_REBUILD_DEAD_LETTERS,
    RebuildFailed,
    rebuild_search_index,
)
from carpark_dagster.lib.search_sync import sync_changed_sessions
from carpark_dagster.resources import ElasticsearchResource
from carpark_dagster.resources.engines import EngineError
from carpark_dagster.resources.search import SESSION_MAPPING
from carpark_dagster_tests.integration.conftest import SEARCH_URL
from carpark_dagster_tests.integration.search_data import (
    add_sessions,
    closed_ids,
    documents,
    execute,
    index_totals,
    last_key,
    postgres_totals,
    session_id,
    stored_watermark,
)
from carpark_dagster_tests.integration.test_postgres import kill_once_marked

pytestmark = pytest.mark.services

log = logging.getLogger("test_search_rebuild")


@pytest.fixture
def two_aliases(search: ElasticsearchResource) -> Iterator[ElasticsearchResource]:
    """The test's alias plus a legacy alias of its own, like `frompostgresql` in production."""
    yield ElasticsearchResource(
        url=SEARCH_URL, alias=search.alias, legacy_alias=f"{search.alias}-lab"
    )


def aliases_of(search: ElasticsearchResource) -> dict[str, set[str]]:
    with search.session_index() as index:
        return index.versioned_indices()


class Searcher(threading.Thread):
    """Counts the documents behind an alias in a loop, as Kibana would, until stopped."""

    def __init__(self, search: ElasticsearchResource, alias: str):
        super().__init__(daemon=True)
        self._search = search
        self._alias = alias
        self._halt = threading.Event()
        self.counts: list[int] = []
        self.errors: list[str] = []

    def run(self) -> None:
        with self._search.session_index() as index:
            while not self._halt.is_set():
                try:
                    self.counts.append(index.count(self._alias))
                except EngineError as exc:
                    self.errors.append(str(exc))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


def test_a_rebuild_swaps_both_aliases_while_searches_keep_answering(postgres, two_aliases):
    search = two_aliases
    add_sessions(postgres, 1, 40_000, open_every=50)
    with search.session_index() as index:
        sync_changed_sessions(postgres, index, log)
        # Damage the live index the way a rebuild is meant to repair: a lost document and
        # one PostgreSQL never had.
        index.engine.request("DELETE", f"/{search.alias}-v1/_doc/{session_id(1)}")
        index.engine.request(
            "PUT",
            f"/{search.alias}-v1/_doc/stray",
            body={"session_id": "stray", "location_id": "Park9", "charge_cents": 1},
            params={"refresh": "true"},
        )
    expected = len(closed_ids(postgres))
    searchers = [Searcher(search, search.alias), Searcher(search, f"{search.alias}-lab")]
    for searcher in searchers:
        searcher.start()
    try:
        with search.session_index() as index:
            outcome = rebuild_search_index(postgres, index, log, page_size=2_000)
    finally:
        for searcher in searchers:
            searcher.stop()

    assert (outcome.old_index, outcome.new_index) == (f"{search.alias}-v1", f"{search.alias}-v2")
    assert outcome.documents == expected == 39_200
    # Both aliases moved together; the old index is gone.
    assert aliases_of(search) == {
        f"{search.alias}-v2": {search.alias, f"{search.alias}-lab"},
    }
    for searcher in searchers:
        assert searcher.errors == []
        assert len(searcher.counts) > 10  # it searched all along
        # Never an empty or partial answer: the old index (one lost, one stray) and the new
        # one both hold exactly as many documents as PostgreSQL has closed sessions.
        assert set(searcher.counts) == {expected}
    assert set(documents(search)) == closed_ids(postgres)  # the lost one back, no stray
    assert index_totals(search) == postgres_totals(postgres)
    # The sync carries on from what the rebuild loaded.
    assert stored_watermark(postgres) == outcome.watermark == last_key(postgres)
    with search.session_index() as index:
        assert sync_changed_sessions(postgres, index, log).sent == 0
        add_sessions(postgres, 40_001, 40_010)
        after = sync_changed_sessions(postgres, index, log)
    assert after.indexed == 10
    with search.session_index() as index:
        index.refresh()
        assert index.count() == expected + 10
        assert index.count(f"{search.alias}-lab") == expected + 10


def test_a_failed_rebuild_leaves_the_old_index_serving(postgres, search):
    """More refusals than a few bad rows explain (here: 1,001 of 1,500) mean the mapping is
    wrong: the rebuild fails and the old index keeps serving."""
    add_sessions(postgres, 1, 1_500)
    with search.session_index() as index:
        sync_changed_sessions(postgres, index, log)
    before = stored_watermark(postgres)
    # Rows the engine refuses (duration_minutes beyond the integer range), written without a
    # new updated_at so that the incremental sync does not see them: only the rebuild does.
    refused = MAX_REBUILD_DEAD_LETTERS + 1
    execute(
        postgres,
        "UPDATE carpark.parking_sessions SET duration_seconds = %s WHERE session_id <= %s",
        2**40,
        session_id(refused),
    )

    with (
        search.session_index() as index,
        pytest.raises(RebuildFailed, match=f"refused over {MAX_REBUILD_DEAD_LETTERS} sessions"),
    ):
        rebuild_search_index(postgres, index, log, page_size=500)

    assert aliases_of(search) == {f"{search.alias}-v1": {search.alias}}  # v2 deleted
    assert len(documents(search)) == 1_500
    assert stored_watermark(postgres) == before
    assert execute(postgres, "SELECT count(*) FROM carpark.search_dead_letters") == [(0,)]


def test_leftovers_of_a_crashed_rebuild_are_cleared(postgres, search):
    add_sessions(postgres, 1, 100)
    with search.session_index() as index:
        sync_changed_sessions(postgres, index, log)
        # A rebuild killed mid-load leaves an index no alias points at, refreshes off.
        index.engine.request(
            "PUT", f"/{search.alias}-v2", body={"settings": {"refresh_interval": "-1"}}
        )
        outcome = rebuild_search_index(postgres, index, log)

    assert outcome.new_index == f"{search.alias}-v2"
    assert aliases_of(search) == {f"{search.alias}-v2": {search.alias}}
    assert len(documents(search)) == 100
    with search.session_index() as index:
        settings = index.engine.request("GET", f"/{search.alias}-v2/_settings")
    assert settings[f"{search.alias}-v2"]["settings"]["index"]["refresh_interval"] == "5s"


def test_the_dagster_job_rebuilds(postgres, search):
    add_sessions(postgres, 1, 300, open_every=3)

    result = rebuild_job.execute_in_process(
        resources={"postgres": postgres, "search": search},
        run_config={"ops": {"rebuild_search_index_from_postgres": {"config": {"page_size": 64}}}},
    )

    assert result.success
    (materialized,) = [
        e for e in result.all_node_events if e.event_type == dg.DagsterEventType.STEP_OUTPUT
    ]
    metadata = materialized.step_output_data.metadata
    assert metadata["documents"].value == 200
    assert metadata["new_index"].value == f"{search.alias}-v2"
    assert set(documents(search)) == closed_ids(postgres)


def test_the_command_rebuilds_the_configured_alias(postgres, postgres_dsn, search, monkeypatch):
    add_sessions(postgres, 1, 50)
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    monkeypatch.setenv("CARPARK_ES_URL", SEARCH_URL)
    monkeypatch.setenv("CARPARK_ES_ALIAS", search.alias)
    monkeypatch.setenv("CARPARK_ES_LEGACY_ALIAS", "none")

    assert main(["search", "rebuild", "--page-size", "20"]) == 0

    assert aliases_of(search) == {f"{search.alias}-v2": {search.alias}}
    assert len(documents(search)) == 50


def test_the_command_names_an_unreachable_engine_without_credentials(monkeypatch, capsys):
    monkeypatch.setenv("CARPARK_ES_URL", "http://elastic:s3cret-pw@127.0.0.1:9")
    monkeypatch.setenv("CARPARK_ES_MAX_RETRIES", "0")
    monkeypatch.setenv("CARPARK_ES_ALIAS", f"never-{uuid.uuid4().hex[:8]}")

    assert main(["search", "rebuild"]) == 1  # the operation failed (2 is for bad usage)

    [err] = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(
        "carpark search rebuild: search engine at http://127.0.0.1:9 is unreachable"
    )
    assert "s3cret-pw" not in err


def test_a_mapping_change_that_needs_a_rebuild_warns_until_one_applies_it(postgres, search, caplog):
    """An index from before dates were ISO-only: its date format cannot change in place."""
    old_date = {"type": "date"}  # the engines' default: ISO 8601 or epoch milliseconds
    old_mapping = {
        "dynamic": "strict",
        "properties": {
            name: old_date if spec.get("type") == "date" else spec
            for name, spec in SESSION_MAPPING["properties"].items()
        },
    }
    add_sessions(postgres, 1, 40)
    with search.session_index() as index:
        index.engine.request(
            "PUT",
            f"/{search.alias}-v1",
            body={"mappings": old_mapping, "aliases": {search.alias: {}}},
        )
        with caplog.at_level(logging.WARNING):
            outcome = sync_changed_sessions(postgres, index, log)
        assert outcome.indexed == 40  # the old mapping still takes the documents
        assert "cannot be changed in place" in caplog.text

        rebuild_search_index(postgres, index, log)
        mapping = index.engine.request("GET", f"/{search.alias}/_mapping")

    (properties,) = (m["mappings"]["properties"] for m in mapping.values())
    assert properties["entry_time"] == {"type": "date", "format": "strict_date_optional_time"}
    assert len(documents(search)) == 40


REBUILD_KILLED_AT = """
import logging, time
from pathlib import Path
from carpark_dagster.lib.search_rebuild import rebuild_search_index
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources import postgres as pg
from carpark_dagster.resources import search as es

target = {"before the alias swap": (es.SessionIndex, "swap_aliases"),
          "before the watermark": (pg.PostgresResource, "settle_search_page")}[point]
def stop_here(*args, **kwargs):
    Path(marker).write_text(point)
    time.sleep(60)
setattr(*target, stop_here)
postgres = PostgresResource(dsn=dsn)
search = ElasticsearchResource(url=url, alias=alias, legacy_alias=None)
with search.session_index() as index:
    rebuild_search_index(postgres, index, logging.getLogger("child"))
"""


@pytest.mark.parametrize("point", ["before the alias swap", "before the watermark"])
def test_a_rebuild_killed_at_a_marked_point_is_repaired_by_the_next_one(
    postgres, search, tmp_path, point
):
    add_sessions(postgres, 1, 300, open_every=7)
    with search.session_index() as index:
        sync_changed_sessions(postgres, index, log)
    before = stored_watermark(postgres)
    marker = tmp_path / "reached"
    where = (postgres.dsn, SEARCH_URL, search.alias, point, str(marker))
    kill_once_marked(f"dsn, url, alias, point, marker = {where!r}\n{REBUILD_KILLED_AT}", marker)

    # Killed: readers still have every document, from the old index or the new one.
    serving = "v1" if point == "before the alias swap" else "v2"
    assert aliases_of(search)[f"{search.alias}-{serving}"] == {search.alias}
    assert set(documents(search)) == closed_ids(postgres)
    assert stored_watermark(postgres) == before  # the kill came before it moved

    with search.session_index() as index:
        outcome = rebuild_search_index(postgres, index, log)
    # The next rebuild drops what the killed one left, and ends where a clean one would.
    assert aliases_of(search) == {outcome.new_index: {search.alias}}
    assert set(documents(search)) == closed_ids(postgres)
    assert stored_watermark(postgres) == outcome.watermark == last_key(postgres)
