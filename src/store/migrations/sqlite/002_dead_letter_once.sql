-- SPDX-License-Identifier: MIT
-- Reading the same input again must not add the same dead letter again: a
-- dead letter is identified by where it came from (source, origin, position).
-- Earlier duplicates, which only a re-import could create, keep their first row.
DELETE FROM ingestion_errors
WHERE position IS NOT NULL
  AND id NOT IN (SELECT min(id) FROM ingestion_errors GROUP BY source, origin, position);

CREATE UNIQUE INDEX ingestion_errors_input ON ingestion_errors (source, origin, position);
