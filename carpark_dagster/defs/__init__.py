"""Dagster definitions, one folder per concern, autoloaded by `carpark_dagster.definitions`:
the tick's assets and checks (`tick/`), the job, schedule and sensor that run it
(`automation/`), the checks of the stored state and their hourly job (`checks/`), the
maintenance jobs (`maintenance/`), and the resources (`resources.py`)."""
