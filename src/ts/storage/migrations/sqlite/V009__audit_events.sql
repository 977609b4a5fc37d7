-- V009: the audit trail (issue 20, storage/audit.h, docs/design/audit.md). Append-only: rows are
-- inserted in the transaction of the change they record and deleted only by retention.
-- `record` is the CloudTrail-shaped JSON; the columns beside it are what `tessera audit`
-- filters by. AUTOINCREMENT: ids never go back, even after retention deleted the newest rows.
CREATE TABLE audit_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_time INTEGER NOT NULL,
  event_name TEXT NOT NULL,
  principal_arn TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  record TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (event_time);
