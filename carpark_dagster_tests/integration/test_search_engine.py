"""The engine-neutral client against the running node."""

from datetime import UTC, datetime

import pytest

from carpark_dagster.domain.reporting import ALL_LOCATIONS, periods_named
from carpark_dagster.resources.engines import ConnectionSettings, EngineError, connect
from carpark_dagster_tests.integration.conftest import SEARCH_URL


def test_auto_detects_the_running_node():
    engine = connect(ConnectionSettings(url=SEARCH_URL))
    try:
        assert engine.name == "opensearch"
        assert engine.request("GET", "/")["version"]["distribution"] == "opensearch"
    finally:
        engine.close()


def test_the_report_periods_are_one_multi_search_and_a_failed_one_is_named(search):
    """The periods' searches go in one request, each answered with its own figures; a search
    the engine fails raises an EngineError that says it was the report's."""
    documents = [
        ("s1", "Park1", "2026-11-27T01:30:00+00:00", 30, 120),
        ("s2", "Park1", "2026-11-27T02:30:00+00:00", 90, 360),
        ("s3", "Park2", "2026-11-25T02:00:00+00:00", 45, 240),
    ]
    with search.session_index() as index:
        index.ensure()
        for session_id, location, exit_time, minutes, cents in documents:
            index.engine.request(
                "PUT",
                f"/{search.alias}/_doc/{session_id}",
                body={
                    "session_id": session_id,
                    "location_id": location,
                    "exit_time": exit_time,
                    "duration_minutes": minutes,
                    "charge_cents": cents,
                },
            )
        index.refresh()
        as_of = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
        requests = []
        send = index.engine.request
        index.engine.request = lambda *a, **k: requests.append(a[:2]) or send(*a, **k)
        (today, today_medians), (week, week_medians) = index.periods_money(
            periods_named(["today", "7d"], as_of)
        )
        index.engine.request = send

        assert requests == [("POST", "/_msearch")]
        assert today.by_location == {"Park1": (2, 480)}
        assert week.by_location == {"Park1": (2, 480), "Park2": (1, 240)}
        # 09:30 and 10:30 in Singapore.
        assert today.hourly_cents[9:11] == (120, 360) and sum(today.hourly_cents) == 480
        assert today_medians == {"Park1": 30 * 60, ALL_LOCATIONS: 30 * 60}
        assert week_medians[ALL_LOCATIONS] == 45 * 60

        with pytest.raises(
            EngineError, match=r"failed a search of the earnings report \(status 404"
        ):
            index.periods_money(periods_named(["today"], as_of), target=f"{search.alias}-missing")
