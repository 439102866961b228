"""Search dead letters against the real PostgreSQL and OpenSearch node: a document the engine
refuses no longer stops the sync; it is recorded, left out of the index and of the
reconciliation (visibly), and `carpark search retry` re-sends it once the data is fixed."""

from __future__ import annotations

import logging

import dagster as dg
import pytest

from carpark_dagster.cli import main
from carpark_dagster.defs.tick import assets
from carpark_dagster.defs.tick.assets import SEARCH_HAS_NO_DEAD_LETTERS, SEARCH_MATCHES_POSTGRES
from carpark_dagster.lib.search_rebuild import rebuild_search_index
from carpark_dagster.lib.search_retry import retry_dead_letters
from carpark_dagster.lib.search_sync import (
    SyncInterrupted,
    SyncOutcome,
    reconcile,
    sync_changed_sessions,
)
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.search import KEYWORD_IGNORE_ABOVE
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

pytestmark = pytest.mark.services

log = logging.getLogger("test_search_dead_letters")
# The integer mapping of duration_minutes refuses this (2**40 s is 18 billion minutes), while
# PostgreSQL's bigint takes it: a document the engine refuses for what it holds.
UNINDEXABLE_DURATION_S = 2**40
UNINDEXABLE_MINUTES = str(UNINDEXABLE_DURATION_S // 60)
# Over Lucene's 32,766-byte term limit: refused before keywords had `ignore_above`.
LONG_PLATE_CHARS = 40_000
DEAD_LETTERS = """
SELECT session_id, status, reason, attempts, first_seen <= last_seen
FROM carpark.search_dead_letters ORDER BY session_id
"""


def sync(postgres: PostgresResource, search: ElasticsearchResource, **options) -> SyncOutcome:
    with search.session_index() as index:
        return sync_changed_sessions(postgres, index, log, **options)


def dead_letters(postgres: PostgresResource) -> list[tuple]:
    return execute(postgres, DEAD_LETTERS)


def dead_letter_ids(postgres: PostgresResource) -> list[str]:
    return [row[0] for row in dead_letters(postgres)]


def make_unindexable(postgres: PostgresResource, i: int, touch: bool = False) -> None:
    """A stored row the mapping cannot take; with `touch`, changed the way a tick does."""
    bump = ", updated_at = now()" if touch else ""
    execute(
        postgres,
        f"UPDATE carpark.parking_sessions SET duration_seconds = %s{bump} WHERE session_id = %s",
        UNINDEXABLE_DURATION_S,
        session_id(i),
    )


def fix(postgres: PostgresResource, i: int, touch: bool = False) -> None:
    """The row put right: its duration from its times (as an operator would in SQL)."""
    bump = ", updated_at = now()" if touch else ""
    execute(
        postgres,
        "UPDATE carpark.parking_sessions "
        f"SET duration_seconds = extract(epoch FROM exit_time - entry_time)::bigint{bump} "
        "WHERE session_id = %s",
        session_id(i),
    )


def without(totals: dict, location: str, cents: int) -> dict:
    n, c = totals[location]
    return {**totals, location: (n - 1, c - cents)}


def charge_of(postgres: PostgresResource, i: int) -> tuple[str, int]:
    ((location, cents),) = execute(
        postgres,
        "SELECT location_id, charge_cents FROM carpark.parking_sessions WHERE session_id = %s",
        session_id(i),
    )
    return location, int(cents)


@pytest.fixture
def cli_env(postgres_dsn, search, monkeypatch):
    monkeypatch.setenv("CARPARK_POSTGRES_DSN", postgres_dsn)
    monkeypatch.setenv("CARPARK_ES_URL", SEARCH_URL)
    monkeypatch.setenv("CARPARK_ES_ALIAS", search.alias)
    monkeypatch.setenv("CARPARK_ES_LEGACY_ALIAS", "none")


# ------------------------------------------------------------------------ the acceptance test


def test_a_refusal_in_the_middle_of_a_25000_row_sync_is_a_dead_letter_and_a_retry_converges(
    postgres, search, cli_env, capsys
):
    total, long_plate, bad = 25_000, 12_000, 12_500  # both in the middle page of three
    add_sessions(postgres, 1, total)
    execute(
        postgres,
        "UPDATE carpark.parking_sessions SET plate = repeat('S', %s) WHERE session_id = %s",
        LONG_PLATE_CHARS,
        session_id(long_plate),
    )
    make_unindexable(postgres, bad)
    bad_location, bad_cents = charge_of(postgres, bad)

    outcome = sync(postgres, search)

    # Everything else indexed, the 40,000-character plate included (ignore_above); the
    # watermark went past the refused row to the end; the sync did not stop at it.
    assert (outcome.indexed, outcome.pages) == (total - 1, 3)
    assert [d.session_id for d in outcome.dead_lettered] == [session_id(bad)]
    assert outcome.watermark == last_key(postgres) == stored_watermark(postgres)
    docs = documents(search)
    assert set(docs) == closed_ids(postgres) - {session_id(bad)}
    assert len(docs) == total - 1
    assert docs[session_id(long_plate)]["plate"] == "S" * LONG_PLATE_CHARS
    expected = without(postgres_totals(postgres), bad_location, bad_cents)
    assert index_totals(search) == expected
    # The dead letter: id, status, the engine's reason naming the field, not the value.
    [(dead_id, status, reason, attempts, ordered)] = dead_letters(postgres)
    assert (dead_id, status, attempts, ordered) == (session_id(bad), 400, 1, True)
    assert reason.startswith("mapper_parsing_exception: failed to parse field [duration_minutes]")
    assert UNINDEXABLE_MINUTES not in reason
    with search.session_index() as index:
        reconciliation = reconcile(postgres, index, log)
    assert reconciliation.matches
    assert reconciliation.dead_letter_count == 1
    assert [d.session_id for d in reconciliation.dead_letters] == [session_id(bad)]

    # The next sync has nothing to send: the row is not retried every tick.
    again = sync(postgres, search)
    assert (again.sent, again.pages, again.dead_lettered) == (0, 0, [])
    assert dead_letter_ids(postgres) == [session_id(bad)]

    # A retry before the fix: still refused, kept, reported; exit 1 with one line.
    assert main(["search", "retry"]) == 1
    out, err = capsys.readouterr()
    assert "still refused          1" in out
    [line] = err.strip().splitlines()
    assert line.startswith(
        f"carpark search retry: the search engine still refuses 1 sessions (first: "
        f"{session_id(bad)}, mapper_parsing_exception"
    )
    assert UNINDEXABLE_MINUTES not in out + err
    assert [(r[0], r[3]) for r in dead_letters(postgres)] == [(session_id(bad), 2)]

    # Fixed in PostgreSQL without a new updated_at: only the retry sends it again.
    fix(postgres, bad)
    assert main(["search", "retry"]) == 0
    out = capsys.readouterr().out
    assert "retried 1 search dead letters" in out
    assert "indexed                1" in out
    assert dead_letters(postgres) == []
    assert index_totals(search) == postgres_totals(postgres)
    docs = documents(search)
    assert len(docs) == total
    assert docs[session_id(bad)]["duration_minutes"] == (bad * 7) % 300
    assert sync(postgres, search).sent == 0
    assert main(["search", "retry"]) == 0
    assert capsys.readouterr().out.strip() == "no search dead letters: nothing to retry"


# ------------------------------------------------------------------------ the sync


def test_a_dead_letter_changed_again_and_indexed_leaves_the_table(postgres, search):
    add_sessions(postgres, 1, 10)
    make_unindexable(postgres, 5, touch=True)
    first = sync(postgres, search)
    assert [d.session_id for d in first.dead_lettered] == [session_id(5)]

    fix(postgres, 5, touch=True)  # a tick corrects it
    second = sync(postgres, search)

    assert (second.indexed, second.dead_lettered, second.dead_letters_cleared) == (1, [], 1)
    assert dead_letters(postgres) == []
    assert set(documents(search)) == closed_ids(postgres)


def test_a_dead_letter_refused_again_counts_one_more_attempt_in_one_row(postgres, search):
    add_sessions(postgres, 1, 10)
    make_unindexable(postgres, 5)
    sync(postgres, search)
    execute(
        postgres,
        "UPDATE carpark.parking_sessions SET updated_at = now() WHERE session_id = %s",
        session_id(5),
    )

    again = sync(postgres, search)

    assert [d.session_id for d in again.dead_lettered] == [session_id(5)]
    [(dead_id, status, _, attempts, _)] = dead_letters(postgres)
    assert (dead_id, status, attempts) == (session_id(5), 400, 2)


def test_a_refused_update_removes_the_sessions_old_document(postgres, search):
    """The index never keeps an outdated document of a dead-lettered session: its old charge
    would be searched and counted."""
    add_sessions(postgres, 1, 10)
    sync(postgres, search)
    assert session_id(3) in documents(search)

    make_unindexable(postgres, 3, touch=True)
    outcome = sync(postgres, search)

    assert [d.session_id for d in outcome.dead_lettered] == [session_id(3)]
    assert session_id(3) not in documents(search)
    with search.session_index() as index:
        reconciliation = reconcile(postgres, index, log)
    assert (reconciliation.matches, reconciliation.dead_letter_count) == (True, 1)


def test_an_index_level_refusal_stops_the_sync_and_makes_no_dead_letter(postgres, search):
    """A write block (what a full disk sets) answers 403 for every document: that is the
    engine, not the documents, so the sync stops as for an outage and catches up later."""
    add_sessions(postgres, 1, 10)
    sync(postgres, search)
    before = stored_watermark(postgres)
    add_sessions(postgres, 11, 20)
    block = {"index.blocks.write": True}
    with search.session_index() as index:
        index.engine.request("PUT", f"/{index.current_index()}/_settings", body=block)
    try:
        with pytest.raises(SyncInterrupted) as caught:
            sync(postgres, search)
    finally:
        with search.session_index() as index:
            index.engine.request(
                "PUT", f"/{index.current_index()}/_settings", body={"index.blocks.write": False}
            )

    assert "failed 10 documents" in str(caught.value)
    assert caught.value.status == 403
    assert stored_watermark(postgres) == before
    assert dead_letters(postgres) == []

    outcome = sync(postgres, search)
    assert (outcome.indexed, outcome.dead_lettered) == (10, [])
    assert set(documents(search)) == closed_ids(postgres)


# ------------------------------------------------------------------------ the asset


def _materialize_sync(postgres, search) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [assets.es_index, assets.location_earnings],
        resources={"postgres": postgres, "search": search},
        raise_on_error=False,
    )


def _checks(result: dg.ExecuteInProcessResult) -> dict:
    return {c.check_name: c for c in result.get_asset_check_evaluations()}


def test_the_asset_names_its_dead_letters_and_the_checks_account_for_them(postgres, search):
    add_sessions(postgres, 1, 30)
    make_unindexable(postgres, 7)

    result = _materialize_sync(postgres, search)

    # es_index no longer fails for a refused document, and the earnings still run.
    assert result.success
    (materialization,) = result.asset_materializations_for_node("es_index")
    metadata = materialization.metadata
    assert metadata["documents_indexed"].value == 29
    assert metadata["dead_lettered"].value == 1
    assert metadata["dead_letters"].value == 1
    assert metadata["dead_letter_ids"].value == session_id(7)
    checks = _checks(result)
    matches = checks[SEARCH_MATCHES_POSTGRES]
    assert matches.passed  # PostgreSQL less the dead letter equals the index
    assert matches.metadata["dead_letters_excluded"].value == 1
    assert matches.metadata["dead_letter_ids"].value == session_id(7)
    warning = checks[SEARCH_HAS_NO_DEAD_LETTERS]
    assert not warning.passed  # visible, not forgiven
    assert warning.severity == dg.AssetCheckSeverity.WARN
    assert warning.metadata["dead_letters"].value == 1
    (record,) = warning.metadata["oldest"].value.records
    assert record.data["session_id"] == session_id(7)
    assert record.data["status"] == 400
    assert len(result.asset_materializations_for_node("location_earnings")) == 1

    fix(postgres, 7)
    with search.session_index() as index:
        retried = retry_dead_letters(postgres, index, log)
    assert (retried.tried, retried.indexed, retried.still_refused) == (1, 1, [])
    result = _materialize_sync(postgres, search)
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    (materialization,) = result.asset_materializations_for_node("es_index")
    assert materialization.metadata["dead_letter_ids"].value == "none"


def test_a_session_lost_from_the_index_still_fails_the_reconciliation_beside_a_dead_letter(
    postgres, search
):
    add_sessions(postgres, 1, 30)
    make_unindexable(postgres, 7)
    assert _materialize_sync(postgres, search).success
    with search.session_index() as index:
        index.engine.request(
            "DELETE", f"/{search.alias}/_doc/{session_id(8)}", params={"refresh": "true"}
        )

    result = _materialize_sync(postgres, search)

    matches = _checks(result)[SEARCH_MATCHES_POSTGRES]
    assert not matches.passed
    (difference,) = matches.metadata["differences"].value
    assert difference["location_id"] == "Park2"  # 8 % 6: the lost one, not Park1's dead letter
    assert difference["index_documents"] == difference["postgres_sessions"] - 1
    assert result.asset_materializations_for_node("location_earnings") == []


# ------------------------------------------------------------------------ retry and rebuild


def test_a_retry_deletes_a_dead_letter_whose_session_is_open_again(postgres, search):
    add_sessions(postgres, 1, 10)
    make_unindexable(postgres, 4)
    sync(postgres, search)
    # A late exit moved its exit to another stay (without a sync since).
    execute(
        postgres,
        "UPDATE carpark.parking_sessions SET exit_event_id = NULL, exit_time = NULL, "
        "duration_seconds = NULL, charge_cents = NULL, status = 'open' WHERE session_id = %s",
        session_id(4),
    )

    with search.session_index() as index:
        outcome = retry_dead_letters(postgres, index, log)

    assert (outcome.tried, outcome.indexed, outcome.deleted) == (1, 0, 1)
    assert dead_letters(postgres) == []
    assert index_totals(search) == postgres_totals(postgres)


def test_a_rebuild_gets_the_guarded_mapping_and_leaves_refused_sessions_as_dead_letters(
    postgres, search
):
    add_sessions(postgres, 1, 50)
    sync(postgres, search)
    # A stale dead letter (indexed since by hand, say) and a session that is refused now.
    execute(
        postgres,
        "INSERT INTO carpark.search_dead_letters (session_id, status, reason) "
        "VALUES (%s, 400, 'old')",
        session_id(2),
    )
    make_unindexable(postgres, 9)
    location, cents = charge_of(postgres, 9)

    with search.session_index() as index:
        outcome = rebuild_search_index(postgres, index, log, page_size=20)
        mapping = index.engine.request("GET", f"/{search.alias}/_mapping")

    assert outcome.documents == 49
    assert [d.session_id for d in outcome.dead_letters] == [session_id(9)]
    assert any("refused" in line and session_id(9) in line for line in outcome.lines())
    assert dead_letter_ids(postgres) == [session_id(9)]  # the stale one was indexed: gone
    assert index_totals(search) == without(postgres_totals(postgres), location, cents)
    assert stored_watermark(postgres) == outcome.watermark == last_key(postgres)
    (properties,) = (m["mappings"]["properties"] for m in mapping.values())
    for field in ("session_id", "plate", "location_id", "tariff"):
        assert properties[field] == {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
