// File: audit_store.cc
// AuditStore (audit.h) on PostgreSQL: the audit trail's table (V006). Events ride on the writes
// of the other aggregates (PostgresStore::Impl inserts them through InsertAudit).
#include <string>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"

namespace ts::storage {

using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Result;

Status postgres_internal::InsertAudit(Connection& c, const AuditRecord& record) {
  return c
      .Exec(
          "INSERT INTO audit_events (event_time, event_name, principal_arn, principal_id, "
          "record) VALUES ($1, $2, $3, $4, $5)",
          MakeParams(record.event_time, record.event_name, record.principal_arn,
                     record.principal_id, record.json))
      .status();
}

Status PostgresStore::AppendAuditEvent(AuditEvent event) {
  // The event is the change: an empty body, and Write inserts the event.
  AuditScope scope(std::move(event));
  return impl_->Write([](Connection&) -> Status { return OkStatus(); });
}

StatusOr<std::vector<AuditRecord>> PostgresStore::ListAuditEvents(const AuditQuery& query) {
  if (query.limit <= 0) return InvalidArgumentError("limit must be positive");
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<AuditRecord>> {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("SELECT id, event_time, event_name, principal_arn, principal_id, record "
               "FROM audit_events WHERE id > $1::bigint AND event_time >= $2::bigint AND "
               "($3::bigint = 0 OR event_time < $3::bigint) AND ($4::text = '' OR event_name = "
               "$4::text) AND ($5::text = '' OR principal_arn = $5::text OR principal_id = "
               "$5::text) ORDER BY id LIMIT $6::bigint",
               MakeParams(query.after_id, query.since, query.until, query.event_name,
                          query.principal, static_cast<int64_t>(query.limit))));
    std::vector<AuditRecord> out;
    out.reserve(static_cast<size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      AuditRecord a;
      a.id = r.Int(i, 0);
      a.event_time = r.Int(i, 1);
      a.event_name = r.Text(i, 2);
      a.principal_arn = r.Text(i, 3);
      a.principal_id = r.Text(i, 4);
      a.json = r.Text(i, 5);
      out.push_back(std::move(a));
    }
    return out;
  });
}

StatusOr<int64_t> PostgresStore::PurgeAuditEvents(int64_t before, int batch) {
  if (batch <= 0) return InvalidArgumentError("batch must be positive");
  return impl_->Single([&](Connection& c) -> StatusOr<int64_t> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events "
                               "WHERE event_time < $1::bigint ORDER BY event_time LIMIT $2::bigint "
                               "FOR UPDATE SKIP LOCKED)",
                               MakeParams(before, static_cast<int64_t>(batch))));
    return r.affected();
  });
}

}  // namespace ts::storage
