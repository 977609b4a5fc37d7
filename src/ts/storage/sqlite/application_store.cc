// ApplicationStore (application_store.h) on SQLite: applications with their grants, access
// scopes and assignments, trusted token issuers, and tags.

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/sqlite/sqlite_internal.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage {

using internal::JoinList;
using internal::SplitList;

using sqlite_internal::Change;
using sqlite_internal::Connection;
using sqlite_internal::Exists;
using sqlite_internal::ReadApplication;
using sqlite_internal::RunPage;
using sqlite_internal::Statement;

// --- applications ---

Status SqliteStore::PutApplication(const Application& app) {
  std::vector<std::pair<std::string, std::string>> scopes;
  for (const auto& [scope, targets] : app.access_scopes) {
    TS_ASSIGN_OR_RETURN(std::string joined, JoinList(targets, "AuthorizedTargets"));
    scopes.emplace_back(scope, std::move(joined));
  }
  return impl_->Write([&](Connection& c) -> Status {
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare(
              "INSERT INTO applications (" TS_APPLICATION_COLUMNS
              ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (application_arn) DO UPDATE "
              "SET instance_arn = excluded.instance_arn, "
              "application_provider_arn = excluded.application_provider_arn, "
              "name = excluded.name, description = excluded.description, "
              "status = excluded.status, assignment_required = excluded.assignment_required, "
              "actor_policy_json = excluded.actor_policy_json, "
              "created_at = excluded.created_at, "
              "portal_options_json = excluded.portal_options_json"));
      stmt.Bind(app.application_arn)
          .Bind(app.instance_arn)
          .Bind(app.application_provider_arn)
          .Bind(app.name)
          .Bind(app.description)
          .Bind(app.status)
          .Bind(app.assignment_required)
          .Bind(app.actor_policy_json)
          .Bind(app.created_at)
          .Bind(app.portal_options_json);
      TS_RETURN_IF_ERROR(stmt.Exec());
    }
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM application_grants WHERE application_arn = ?", app.application_arn)
            .status());
    for (const auto& [grant_type, grant_json] : app.grants) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO application_grants "
                                "(application_arn, grant_type, grant_json) VALUES (?, ?, ?)",
                                app.application_arn, grant_type, grant_json)
                             .status());
    }
    TS_RETURN_IF_ERROR(Change(c, "DELETE FROM application_access_scopes WHERE application_arn = ?",
                              app.application_arn)
                           .status());
    for (const auto& [scope, targets] : scopes) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO application_access_scopes "
                                "(application_arn, scope, authorized_targets) VALUES (?, ?, ?)",
                                app.application_arn, scope, targets)
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<Application> SqliteStore::GetApplication(const std::string& application_arn) {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<Application> {
    Application app;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT " TS_APPLICATION_COLUMNS
                                    " FROM applications WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) return NotFoundError("no such application: " + application_arn);
      app = ReadApplication(stmt);
    }
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT grant_type, grant_json FROM application_grants "
                                    "WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        app.grants[stmt.Text(0)] = stmt.Text(1);
      }
    }
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare("SELECT scope, authorized_targets FROM application_access_scopes "
                    "WHERE application_arn = ?"));
      stmt.Bind(application_arn);
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        app.access_scopes[stmt.Text(0)] = SplitList(stmt.Text(1));
      }
    }
    return app;
  });
}

StatusOr<std::vector<Application>> SqliteStore::ListApplications() {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<std::vector<Application>> {
    std::vector<Application> apps;
    std::unordered_map<std::string, size_t> index;
    {
      TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_APPLICATION_COLUMNS
                                                    " FROM applications ORDER BY application_arn"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        apps.push_back(ReadApplication(stmt));
        index[apps.back().application_arn] = apps.size() - 1;
      }
    }
    {
      TS_ASSIGN_OR_RETURN(
          Statement stmt,
          c.Prepare("SELECT application_arn, grant_type, grant_json FROM application_grants"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        auto it = index.find(stmt.Text(0));
        if (it != index.end()) apps[it->second].grants[stmt.Text(1)] = stmt.Text(2);
      }
    }
    {
      TS_ASSIGN_OR_RETURN(Statement stmt,
                          c.Prepare("SELECT application_arn, scope, authorized_targets "
                                    "FROM application_access_scopes"));
      while (true) {
        TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        auto it = index.find(stmt.Text(0));
        if (it != index.end()) {
          apps[it->second].access_scopes[stmt.Text(1)] = SplitList(stmt.Text(2));
        }
      }
    }
    return apps;
  });
}

Status SqliteStore::DeleteApplication(const std::string& application_arn, int64_t now) {
  return impl_->Write([&](Connection& c) -> Status {
    // Grants, access scopes and assignments go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        int64_t deleted,
        Change(c, "DELETE FROM applications WHERE application_arn = ?", application_arn));
    if (deleted == 0) return NotFoundError("no such application: " + application_arn);
    TS_RETURN_IF_ERROR(
        Change(c, "DELETE FROM tags WHERE resource_arn = ?", application_arn).status());
    TS_RETURN_IF_ERROR(Change(c,
                              "UPDATE token_families SET revoked_at = ? "
                              "WHERE application_arn = ? AND revoked_at = 0",
                              now, application_arn)
                           .status());
    return Change(c,
                  "DELETE FROM authorization_codes WHERE application_arn = ? AND consumed_at = 0",
                  application_arn)
        .status();
  });
}

Status SqliteStore::PutAssignment(const std::string& application_arn,
                                  const std::string& principal_id,
                                  const std::string& principal_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Statement stmt,
        c.Prepare("INSERT INTO assignments (application_arn, principal_id, principal_type) "
                  "VALUES (?, ?, ?) ON CONFLICT (application_arn, principal_id) "
                  "DO UPDATE SET principal_type = excluded.principal_type"));
    stmt.Bind(application_arn).Bind(principal_id).Bind(principal_type);
    Status status = stmt.Exec();
    if (!status.ok() && stmt.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return status;
  });
}

Status SqliteStore::DeleteAssignment(const std::string& application_arn,
                                     const std::string& principal_id) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM assignments "
                                                "WHERE application_arn = ? AND principal_id = ?",
                                                application_arn, principal_id));
    if (deleted == 0) {
      return NotFoundError("no such assignment: " + principal_id + " to " + application_arn);
    }
    return OkStatus();
  });
}

StatusOr<bool> SqliteStore::IsAssigned(const std::string& application_arn,
                                       const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_USER_ASSIGNED("?1", "?2")));
    stmt.Bind(application_arn).Bind(user_id);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    return row && stmt.Int(0) != 0;
  });
}

// --- trusted token issuers ---

#define TS_TTI_COLUMNS                                                       \
  "arn, instance_arn, name, issuer_type, issuer_url, claim_attribute_path, " \
  "identity_store_attribute_path, jwks_retrieval_option, created_at"

namespace {
TrustedTokenIssuer ReadTrustedTokenIssuer(Statement& s) {
  TrustedTokenIssuer t;
  t.arn = s.Text(0);
  t.instance_arn = s.Text(1);
  t.name = s.Text(2);
  t.type = s.Text(3);
  t.issuer_url = s.Text(4);
  t.claim_attribute_path = s.Text(5);
  t.identity_store_attribute_path = s.Text(6);
  t.jwks_retrieval_option = s.Text(7);
  t.created_at = s.Int(8);
  return t;
}
}  // namespace

Status SqliteStore::PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) {
  if (issuer.arn.empty()) return InvalidArgumentError("trusted token issuer arn is empty");
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("INSERT OR REPLACE INTO trusted_token_issuers (" TS_TTI_COLUMNS
                                  ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"));
    stmt.Bind(issuer.arn)
        .Bind(issuer.instance_arn)
        .Bind(issuer.name)
        .Bind(issuer.type)
        .Bind(issuer.issuer_url)
        .Bind(issuer.claim_attribute_path)
        .Bind(issuer.identity_store_attribute_path)
        .Bind(issuer.jwks_retrieval_option)
        .Bind(issuer.created_at);
    return stmt.Exec();
  });
}

StatusOr<TrustedTokenIssuer> SqliteStore::GetTrustedTokenIssuer(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<TrustedTokenIssuer> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_TTI_COLUMNS
                                                  " FROM trusted_token_issuers WHERE arn = ?"));
    stmt.Bind(arn);
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return NotFoundError("no such trusted token issuer: " + arn);
    return ReadTrustedTokenIssuer(stmt);
  });
}

StatusOr<std::vector<TrustedTokenIssuer>> SqliteStore::ListTrustedTokenIssuers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<TrustedTokenIssuer>> {
    TS_ASSIGN_OR_RETURN(Statement stmt, c.Prepare("SELECT " TS_TTI_COLUMNS
                                                  " FROM trusted_token_issuers ORDER BY arn"));
    std::vector<TrustedTokenIssuer> out;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      out.push_back(ReadTrustedTokenIssuer(stmt));
    }
    return out;
  });
}

namespace {

Status LoadApplicationChildren(Connection& c, Application& app) {
  {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT grant_type, grant_json FROM application_grants "
                                  "WHERE application_arn = ?"));
    stmt.Bind(app.application_arn);
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      app.grants[stmt.Text(0)] = stmt.Text(1);
    }
  }
  TS_ASSIGN_OR_RETURN(Statement stmt,
                      c.Prepare("SELECT scope, authorized_targets FROM application_access_scopes "
                                "WHERE application_arn = ?"));
  stmt.Bind(app.application_arn);
  while (true) {
    TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    app.access_scopes[stmt.Text(0)] = SplitList(stmt.Text(1));
  }
  return OkStatus();
}

StatusOr<bool> ApplicationExists(Connection& c, const std::string& application_arn) {
  return Exists(c, "SELECT 1 FROM applications WHERE application_arn = ?", application_arn);
}

}  // namespace

StatusOr<Page<Application>> SqliteStore::ListApplicationsPage(const PageRequest& page) {
  return impl_->Snapshot([&](Connection& c) -> StatusOr<Page<Application>> {
    TS_ASSIGN_OR_RETURN(
        Page<Application> out,
        RunPage<Application>(c,
                             "SELECT " TS_APPLICATION_COLUMNS " FROM applications WHERE "
                             "application_arn > ? ORDER BY application_arn LIMIT ?",
                             page, ReadApplication,
                             [](const Application& a) { return a.application_arn; }));
    for (Application& app : out.items) TS_RETURN_IF_ERROR(LoadApplicationChildren(c, app));
    return out;
  });
}

Status SqliteStore::UpdateApplication(const Application& app) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t changed,
                        Change(c,
                               "UPDATE applications SET name = ?, description = ?, status = ?, "
                               "assignment_required = ?, portal_options_json = ? "
                               "WHERE application_arn = ?",
                               app.name, app.description, app.status, app.assignment_required,
                               app.portal_options_json, app.application_arn));
    if (changed == 0) return NotFoundError("no such application: " + app.application_arn);
    return OkStatus();
  });
}

Status SqliteStore::PutApplicationGrant(const std::string& application_arn,
                                        const std::string& grant_type,
                                        const std::string& grant_json) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    return Change(c,
                  "INSERT INTO application_grants (application_arn, grant_type, grant_json) "
                  "VALUES (?, ?, ?) ON CONFLICT (application_arn, grant_type) "
                  "DO UPDATE SET grant_json = excluded.grant_json",
                  application_arn, grant_type, grant_json)
        .status();
  });
}

Status SqliteStore::DeleteApplicationGrant(const std::string& application_arn,
                                           const std::string& grant_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM application_grants WHERE "
                                                "application_arn = ? AND grant_type = ?",
                                                application_arn, grant_type));
    if (deleted == 0) return NotFoundError("no such grant: " + grant_type);
    return OkStatus();
  });
}

Status SqliteStore::PutApplicationAccessScope(const std::string& application_arn,
                                              const std::string& scope,
                                              const std::vector<std::string>& authorized_targets) {
  TS_ASSIGN_OR_RETURN(std::string joined, JoinList(authorized_targets, "AuthorizedTargets"));
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    return Change(c,
                  "INSERT INTO application_access_scopes "
                  "(application_arn, scope, authorized_targets) VALUES (?, ?, ?) "
                  "ON CONFLICT (application_arn, scope) "
                  "DO UPDATE SET authorized_targets = excluded.authorized_targets",
                  application_arn, scope, joined)
        .status();
  });
}

Status SqliteStore::DeleteApplicationAccessScope(const std::string& application_arn,
                                                 const std::string& scope) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(int64_t deleted, Change(c,
                                                "DELETE FROM application_access_scopes WHERE "
                                                "application_arn = ? AND scope = ?",
                                                application_arn, scope));
    if (deleted == 0) return NotFoundError("no such access scope: " + scope);
    return OkStatus();
  });
}

Status SqliteStore::SetActorPolicy(const std::string& application_arn,
                                   const std::string& actor_policy_json) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t changed, Change(c,
                                                "UPDATE applications SET actor_policy_json = ? "
                                                "WHERE application_arn = ?",
                                                actor_policy_json, application_arn));
    if (changed == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

StatusOr<Page<Assignment>> SqliteStore::ListAssignments(const std::string& application_arn,
                                                        const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Assignment>> {
    return RunPage<Assignment>(
        c,
        "SELECT application_arn, principal_id, principal_type FROM assignments WHERE "
        "application_arn = ? AND principal_id > ? ORDER BY principal_id LIMIT ?",
        page,
        [](const Statement& s) {
          return Assignment{s.Text(0), s.Text(1), s.Text(2)};
        },
        [](const Assignment& a) { return a.principal_id; }, application_arn);
  });
}

Status SqliteStore::DeleteTrustedTokenIssuer(const std::string& arn) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(int64_t deleted,
                        Change(c, "DELETE FROM trusted_token_issuers WHERE arn = ?", arn));
    if (deleted == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return Change(c, "DELETE FROM tags WHERE resource_arn = ?", arn).status();
  });
}

Status SqliteStore::TagResource(const std::string& resource_arn,
                                const std::map<std::string, std::string>& tags) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const auto& [key, value] : tags) {
      TS_RETURN_IF_ERROR(Change(c,
                                "INSERT INTO tags (resource_arn, tag_key, tag_value) "
                                "VALUES (?, ?, ?) ON CONFLICT (resource_arn, tag_key) "
                                "DO UPDATE SET tag_value = excluded.tag_value",
                                resource_arn, key, value)
                             .status());
    }
    return OkStatus();
  });
}

Status SqliteStore::UntagResource(const std::string& resource_arn,
                                  const std::vector<std::string>& keys) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const std::string& key : keys) {
      TS_RETURN_IF_ERROR(
          Change(c, "DELETE FROM tags WHERE resource_arn = ? AND tag_key = ?", resource_arn, key)
              .status());
    }
    return OkStatus();
  });
}

StatusOr<std::map<std::string, std::string>> SqliteStore::ListTags(
    const std::string& resource_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::map<std::string, std::string>> {
    TS_ASSIGN_OR_RETURN(Statement stmt,
                        c.Prepare("SELECT tag_key, tag_value FROM tags WHERE resource_arn = ?"));
    stmt.Bind(resource_arn);
    std::map<std::string, std::string> tags;
    while (true) {
      TS_ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (!row) break;
      tags[stmt.Text(0)] = stmt.Text(1);
    }
    return tags;
  });
}

}  // namespace ts::storage
