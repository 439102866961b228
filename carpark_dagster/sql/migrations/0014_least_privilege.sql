-- The roles of 0003, made whole for what came after (docs/deployment.md, "Least privilege").
-- 0003's default privileges cover only tables created by the role that ran 0003; a later
-- migration run by another owner role would leave its tables out. Granting again on all
-- tables is idempotent and costs nothing. Sequences (none yet) get the same treatment.
GRANT USAGE ON SCHEMA carpark TO carpark_pipeline, carpark_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA carpark TO carpark_pipeline;
GRANT SELECT ON ALL TABLES IN SCHEMA carpark TO carpark_reader;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA carpark TO carpark_pipeline;
GRANT SELECT ON public."CarPark" TO carpark_pipeline, carpark_reader;
-- The runtime reads which migrations are applied (and never creates the table itself).
GRANT SELECT ON public.carpark_schema_migrations TO carpark_pipeline, carpark_reader;
ALTER DEFAULT PRIVILEGES IN SCHEMA carpark
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO carpark_pipeline;
-- Neither role may create anything: PostgreSQL 15 and later no longer let every role CREATE
-- in public, older servers did. (Only the schema's owner can revoke; for another role this is
-- a warning, not an error.)
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Quarantine reasons are fixed texts now (docs/security.md): older rows quoted the bad value,
-- e.g. "unknown location 'X'", or a session id taken from the input. Rewritten to the fixed
-- text (the record keeps the value), so that a replay finds them under the same
-- (record_key, reason) and adds no second row. Where a record has several old reasons that
-- become one text (an exit before two different entries), one of them is rewritten and the
-- others stay as they are; nothing is deleted.
UPDATE carpark.quarantine q
SET reason = fixed.new_reason
FROM (
    SELECT DISTINCT ON (record_key, new_reason) record_key, reason, new_reason
    FROM (
        SELECT record_key, reason,
               CASE
                   WHEN reason LIKE 'unknown location %' THEN 'unknown location'
                   WHEN reason LIKE 'unparseable entry time %' THEN 'unparseable entry time'
                   WHEN reason LIKE 'unparseable exit time %' THEN 'unparseable exit time'
                   WHEN reason LIKE 'exit earlier than the open entry (%'
                       THEN 'exit earlier than the open entry'
                   WHEN reason ~ '^malformed plate .* \(rule ''(any|sg)''\)$'
                       THEN 'malformed plate (rule '
                            || substring(reason FROM '\(rule ''(any|sg)''\)$') || ')'
               END AS new_reason
        FROM carpark.quarantine
    ) old
    WHERE new_reason IS NOT NULL
    ORDER BY record_key, new_reason, reason
) fixed
WHERE q.record_key = fixed.record_key
  AND q.reason = fixed.reason
  AND NOT EXISTS (
      SELECT FROM carpark.quarantine other
      WHERE other.record_key = q.record_key AND other.reason = fixed.new_reason
  );
