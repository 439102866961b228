"""Carpark earnings platform: a Dagster project.

`carpark_dagster.domain` holds the carpark rules (events, sessions, tariff, simulator) as plain
Python; `carpark_dagster.resources` owns all I/O; `carpark_dagster.definitions` wires the assets.
"""
