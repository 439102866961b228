"""The search rebuild as a Dagster job, for operators who prefer the UI to the command line."""

import dagster as dg
from pydantic import Field

from carpark_dagster.domain.sessions import format_watermark
from carpark_dagster.lib import search_rebuild
from carpark_dagster.resources import ElasticsearchResource, PostgresResource
from carpark_dagster.resources.engines import EngineError


class SearchRebuildConfig(dg.Config):
    page_size: int = Field(
        default=search_rebuild.REBUILD_PAGE_SIZE,
        description="Sessions read from PostgreSQL per page.",
    )


@dg.op(
    description="Load every closed session into the next versioned index, verify it against "
    "PostgreSQL, then move both aliases to it in one atomic request and drop the old index."
)
def rebuild_search_index_from_postgres(
    context: dg.OpExecutionContext,
    config: SearchRebuildConfig,
    postgres: PostgresResource,
    search: ElasticsearchResource,
) -> dg.Output[str]:
    try:
        with search.session_index() as index:
            outcome = search_rebuild.rebuild_search_index(
                postgres, index, context.log, page_size=config.page_size
            )
    except EngineError as exc:
        raise dg.Failure(description=f"search rebuild failed: {exc}") from None
    return dg.Output(
        outcome.new_index,
        metadata={
            "old_index": outcome.old_index,
            "new_index": outcome.new_index,
            "documents": outcome.documents,
            "locations": outcome.locations,
            "watermark": format_watermark(outcome.watermark),
            "seconds": round(outcome.seconds, 1),
            "dead_letters": len(outcome.dead_letters),
        },
    )


@dg.job(
    description="Rebuild the search index from PostgreSQL with no downtime for searches "
    "(also: carpark search rebuild)."
)
def rebuild_search_index():
    rebuild_search_index_from_postgres()
