-- Two group roles (NOLOGIN): give them to login roles, e.g.
--   CREATE ROLE dagster LOGIN PASSWORD '...' IN ROLE carpark_pipeline;
--   CREATE ROLE analyst LOGIN PASSWORD '...' IN ROLE carpark_reader;
-- carpark_pipeline reads and writes the carpark schema; carpark_reader only reads it (and the
-- lab's view public."CarPark"). Roles belong to the whole server, so they may exist already.
-- Creating them needs CREATEROLE (the deployment's POSTGRES_USER and `make up`'s user have it).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carpark_pipeline') THEN
        CREATE ROLE carpark_pipeline NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'carpark_reader') THEN
        CREATE ROLE carpark_reader NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA carpark TO carpark_pipeline, carpark_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA carpark TO carpark_pipeline;
GRANT SELECT ON ALL TABLES IN SCHEMA carpark TO carpark_reader;
GRANT SELECT ON public."CarPark" TO carpark_pipeline, carpark_reader;
GRANT SELECT, INSERT ON public.carpark_schema_migrations TO carpark_pipeline;
-- Tables that later migrations create get the same grants.
ALTER DEFAULT PRIVILEGES IN SCHEMA carpark
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO carpark_pipeline;
ALTER DEFAULT PRIVILEGES IN SCHEMA carpark GRANT SELECT ON TABLES TO carpark_reader;
