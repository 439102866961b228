#!/usr/bin/env bash
# docker-compose.yaml's one-shot `db_roles` service, in the PostgreSQL image, after `migrate`
# (which creates the group roles carpark_pipeline and carpark_reader, 0003_roles.sql). As the
# owner (PGUSER/PGPASSWORD), it creates or updates the logins the running services use:
#   carpark_app  LOGIN, member of carpark_pipeline only: the pipeline's CARPARK_POSTGRES_DSN;
#   dagster      LOGIN, owner of the database dagster only: Dagster's run/event storage.
# Neither may create roles or databases (CREATE ROLE makes no superuser). Idempotent; the passwords are read with \getenv, so
# they appear on no command line, and are stored as SCRAM-SHA-256 hashes.
set -euo pipefail
# shellcheck source=check-passwords.sh
. "$(dirname "${BASH_SOURCE[0]}")/check-passwords.sh"
check_passwords CARPARK_PIPELINE_DB_PASSWORD CARPARK_DAGSTER_DB_PASSWORD
CARPARK_APP_ROLE=${CARPARK_APP_ROLE:-carpark_app}
DAGSTER_ROLE=${DAGSTER_ROLE:-dagster}
DAGSTER_DB=${DAGSTER_DB:-dagster}

psql -X -q -v ON_ERROR_STOP=1 -v app="$CARPARK_APP_ROLE" -v dagster="$DAGSTER_ROLE" \
  -v dagster_db="$DAGSTER_DB" <<'SQL'
\getenv app_password CARPARK_PIPELINE_DB_PASSWORD
\getenv dagster_password CARPARK_DAGSTER_DB_PASSWORD
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'app')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \gexec
ALTER ROLE :"app" LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'app_password';
GRANT carpark_pipeline TO :"app";
SELECT format('CREATE ROLE %I LOGIN', :'dagster')
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'dagster') \gexec
ALTER ROLE :"dagster" LOGIN NOCREATEDB NOCREATEROLE PASSWORD :'dagster_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'dagster_db', :'dagster')
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db') \gexec
-- A deployment from before these logins: the database (and below, its tables) change hands.
ALTER DATABASE :"dagster_db" OWNER TO :"dagster";
REVOKE ALL ON DATABASE :"dagster_db" FROM PUBLIC;
SQL

psql -X -q -v ON_ERROR_STOP=1 -d "$DAGSTER_DB" -v dagster="$DAGSTER_ROLE" <<'SQL'
SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, :'dagster')
  FROM pg_tables WHERE schemaname = 'public' AND tableowner <> :'dagster' \gexec
SQL
echo "db_roles: logins $CARPARK_APP_ROLE and $DAGSTER_ROLE ready"
