#!/usr/bin/env bash
# First start of the deployment's PostgreSQL: a database for Dagster's own storage beside
# the carpark database (POSTGRES_DB), both owned by POSTGRES_USER.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -c "CREATE DATABASE dagster OWNER \"$POSTGRES_USER\""
