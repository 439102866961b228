"""Resources own all I/O: PostgreSQL (system of record) and the search engine (serving store)."""

from carpark_dagster.resources.config import CarparkConfigResource
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import ElasticsearchResource
from carpark_dagster.resources.simulator import GateSimulatorResource
from carpark_dagster.resources.window_io import WindowPickleIOManager

__all__ = [
    "CarparkConfigResource",
    "ElasticsearchResource",
    "GateSimulatorResource",
    "PostgresResource",
    "WindowPickleIOManager",
]
