"""Every run in one process: the tick is a linear chain, and "Materialize all" in the UI runs
it the same way as the job does."""

import dagster as dg


@dg.definitions
def executor() -> dg.Definitions:
    return dg.Definitions(executor=dg.in_process_executor)
