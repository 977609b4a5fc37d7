// AuditStore (audit.h) on SQLite: the audit trail's table (V009). Events ride on the writes of
// the other aggregates (SqliteStore::Impl::Write inserts them through InsertAudit).

#include <string>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using sqlite_internal::Connection;
using sqlite_internal::Statement;

Status sqlite_internal::InsertAudit(Connection& c, const AuditRecord& record) {
  TS_ASSIGN_OR_RETURN(Statement stmt,
                      c.Prepare("INSERT INTO audit_events (event_time, event_name, principal_arn, "
                                "principal_id, record) VALUES (?, ?, ?, ?, ?)"));
  stmt.Bind(record.event_time)
      .Bind(record.event_name)
      .Bind(record.principal_arn)
      .Bind(record.principal_id)
      .Bind(record.json);
  return stmt.Exec();
}

Status SqliteStore::AppendAuditEvent(AuditEvent event) {
  // The event is the change: an empty body, and Write inserts the event.
  AuditScope scope(std::move(event));
  return impl_->Write([](Connection&) -> Status { return OkStatus(); });
}

StatusOr<std::vector<AuditRecord>> SqliteStore::ListAuditEvents(const AuditQuery& query) {
  if (query.limit <= 0) return InvalidArgumentError("limit must be positive");
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AuditRecord>> {
    // One statement for every filter: a bound "no filter" value switches each one off, and the
    // time range (indexed) or the id order drives the scan.
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("SELECT id, event_time, event_name, principal_arn, principal_id, record "
                  "FROM audit_events WHERE id > ? AND event_time >= ? AND (? = 0 OR event_time "
                  "< ?) AND (? = '' OR event_name = ?) AND (? = '' OR principal_arn = ? OR "
                  "principal_id = ?) ORDER BY id LIMIT ?"));
    stmt.Bind(query.after_id)
        .Bind(query.since)
        .Bind(query.until)
        .Bind(query.until)
        .Bind(query.event_name)
        .Bind(query.event_name)
        .Bind(query.principal)
        .Bind(query.principal)
        .Bind(query.principal)
        .Bind(static_cast<int64_t>(query.limit));
    std::vector<AuditRecord> out;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      AuditRecord r;
      r.id = stmt.Int(0);
      r.event_time = stmt.Int(1);
      r.event_name = stmt.Text(2);
      r.principal_arn = stmt.Text(3);
      r.principal_id = stmt.Text(4);
      r.json = stmt.Text(5);
      out.push_back(std::move(r));
    }
    return out;
  });
}

StatusOr<int64_t> SqliteStore::PurgeAuditEvents(int64_t before, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  return impl_->Write([&](Connection& c) -> StatusOr<int64_t> {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("DELETE FROM audit_events WHERE id IN (SELECT id FROM "
                  "audit_events WHERE event_time < ? ORDER BY event_time LIMIT ?)"));
    stmt.Bind(before).Bind(static_cast<int64_t>(batch));
    TS_RETURN_IF_ERROR(stmt.Exec());
    return stmt.Changes();
  });
}

}  // namespace ts::storage
