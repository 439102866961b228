"""Carpark earnings platform: a Dagster project.

`carpark_dagster.domain` holds the carpark rules (events, sessions, tariffs, windows, the
simulator, earnings) as plain Python; `carpark_dagster.resources` owns all I/O;
`carpark_dagster.lib` is the work the assets, jobs and the `carpark` command share;
`carpark_dagster.defs` are the Dagster definitions that `carpark_dagster.definitions` loads.
"""
