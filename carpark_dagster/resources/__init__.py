"""Resources own all I/O: PostgreSQL (system of record) and the search engine (serving store);
and the deployment's settings: locations and tariffs, the simulated gates, the tick clock,
the checks' limits."""

from carpark_dagster.resources.checks import CheckLimitsResource
from carpark_dagster.resources.clock import TickClockResource
from carpark_dagster.resources.config import CarparkConfigResource
from carpark_dagster.resources.inbox import InboxResource
from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.run_io import RunPickleIOManager
from carpark_dagster.resources.search import ElasticsearchResource
from carpark_dagster.resources.simulator import GateSimulatorResource

__all__ = [
    "CarparkConfigResource",
    "CheckLimitsResource",
    "ElasticsearchResource",
    "GateSimulatorResource",
    "InboxResource",
    "PostgresResource",
    "RunPickleIOManager",
    "TickClockResource",
]
