"""The engine-neutral client against the running node."""

from carpark_dagster.resources.engines import ConnectionSettings, connect
from carpark_dagster_tests.integration.conftest import SEARCH_URL


def test_auto_detects_the_running_node():
    engine = connect(ConnectionSettings(url=SEARCH_URL))
    try:
        assert engine.name == "opensearch"
        assert engine.request("GET", "/")["version"]["distribution"] == "opensearch"
    finally:
        engine.close()
