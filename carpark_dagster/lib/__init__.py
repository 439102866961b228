"""The work behind the assets, jobs and the `carpark` command: the search sync, the rebuild and
the lab's import. Plain Python over the resources, no Dagster needed."""
