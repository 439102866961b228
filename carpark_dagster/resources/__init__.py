"""Resources own all I/O: PostgreSQL (system of record) and the search engine (serving store)."""

from carpark_dagster.resources.postgres import PostgresResource
from carpark_dagster.resources.search import ElasticsearchResource

__all__ = ["ElasticsearchResource", "PostgresResource"]
