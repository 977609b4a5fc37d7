-- V006: the audit trail (issue 20, storage/audit.h, docs/design/audit.md). Append-only: rows are
-- inserted in the transaction of the change they record and deleted only by retention.
-- `record` is the CloudTrail-shaped JSON (kept as text, byte for byte); the columns beside it are
-- what `tessera audit` filters by.
CREATE TABLE audit_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_time BIGINT NOT NULL,
  event_name TEXT NOT NULL,
  principal_arn TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (event_time);
