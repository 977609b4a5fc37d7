// File: application_store.cc
// PostgresStore's ApplicationStore methods: applications with their grants and access scopes,
// assignments, trusted token issuers and tags.
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ts/common/status_macros.h"
#include "ts/storage/postgres/postgres_internal.h"
#include "ts/storage/postgres/postgres_store.h"
#include "ts/storage/row_codec.h"

namespace ts::storage {

using internal::JoinList;
using internal::SplitList;
using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::ReadTrustedTokenIssuer;
using postgres_internal::Result;
using postgres_internal::RunPage;

// --- applications ---

namespace {
// One statement returns the application rows (kind 0), their grants (1) and access scopes (2),
// so a read needs one round trip and sees one snapshot.
#define TS_APPLICATION_UNION(where_app, where_child)                                    \
  "SELECT 0 AS kind, application_arn, instance_arn, application_provider_arn, name, "   \
  "description, status, assignment_required::text, actor_policy_json, "                 \
  "created_at::text, portal_options_json FROM applications " where_app                  \
  " UNION ALL SELECT 1, application_arn, grant_type, grant_json, NULL, NULL, NULL, "    \
  "NULL, NULL, NULL, NULL FROM application_grants " where_child                         \
  " UNION ALL SELECT 2, application_arn, scope, authorized_targets, NULL, NULL, NULL, " \
  "NULL, NULL, NULL, NULL FROM application_access_scopes " where_child " ORDER BY 1, 2"

std::vector<Application> ReadApplications(const Result& r) {
  std::vector<Application> apps;
  std::unordered_map<std::string, size_t> index;
  for (int i = 0; i < r.rows(); ++i) {
    const int64_t kind = r.Int(i, 0);
    if (kind == 0) {
      Application a;
      a.application_arn = r.Text(i, 1);
      a.instance_arn = r.Text(i, 2);
      a.application_provider_arn = r.Text(i, 3);
      a.name = r.Text(i, 4);
      a.description = r.Text(i, 5);
      a.status = r.Text(i, 6);
      a.assignment_required = r.Bool(i, 7);
      a.actor_policy_json = r.Text(i, 8);
      a.created_at = r.Int(i, 9);
      a.portal_options_json = r.Text(i, 10);
      index[a.application_arn] = apps.size();
      apps.push_back(std::move(a));
      continue;
    }
    auto it = index.find(r.Text(i, 1));
    if (it == index.end()) continue;
    if (kind == 1) apps[it->second].grants[r.Text(i, 2)] = r.Text(i, 3);
    if (kind == 2) apps[it->second].access_scopes[r.Text(i, 2)] = SplitList(r.Text(i, 3));
  }
  return apps;
}

StatusOr<bool> ApplicationExists(Connection& c, const std::string& application_arn) {
  TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT 1 FROM applications WHERE application_arn = $1",
                                       MakeParams(application_arn)));
  return r.rows() > 0;
}

}  // namespace

Status PostgresStore::PutApplication(const Application& app) {
  std::vector<std::pair<std::string, std::string>> scopes;
  for (const auto& [scope, targets] : app.access_scopes) {
    TS_ASSIGN_OR_RETURN(std::string joined, JoinList(targets, "AuthorizedTargets"));
    scopes.emplace_back(scope, std::move(joined));
  }
  return impl_->Write([&](Connection& c) -> Status {
    TS_RETURN_IF_ERROR(
        c.Exec("INSERT INTO applications (application_arn, instance_arn, "
               "application_provider_arn, name, description, status, assignment_required, "
               "actor_policy_json, created_at, portal_options_json) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
               "ON CONFLICT (application_arn) DO UPDATE SET "
               "instance_arn = excluded.instance_arn, "
               "application_provider_arn = excluded.application_provider_arn, "
               "name = excluded.name, description = excluded.description, "
               "status = excluded.status, assignment_required = excluded.assignment_required, "
               "actor_policy_json = excluded.actor_policy_json, created_at = excluded.created_at, "
               "portal_options_json = excluded.portal_options_json",
               MakeParams(app.application_arn, app.instance_arn, app.application_provider_arn,
                          app.name, app.description, app.status, app.assignment_required,
                          app.actor_policy_json, app.created_at, app.portal_options_json))
            .status());
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM application_grants WHERE application_arn = $1",
                              MakeParams(app.application_arn))
                           .status());
    for (const auto& [grant_type, grant_json] : app.grants) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO application_grants "
                                "(application_arn, grant_type, grant_json) VALUES ($1, $2, $3)",
                                MakeParams(app.application_arn, grant_type, grant_json))
                             .status());
    }
    TS_RETURN_IF_ERROR(c.Exec("DELETE FROM application_access_scopes WHERE application_arn = $1",
                              MakeParams(app.application_arn))
                           .status());
    for (const auto& [scope, targets] : scopes) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO application_access_scopes "
                                "(application_arn, scope, authorized_targets) VALUES ($1, $2, $3)",
                                MakeParams(app.application_arn, scope, targets))
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<Application> PostgresStore::GetApplication(const std::string& application_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<Application> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(TS_APPLICATION_UNION("WHERE application_arn = $1",
                                                              "WHERE application_arn = $1"),
                                         MakeParams(application_arn)));
    std::vector<Application> apps = ReadApplications(r);
    if (apps.empty()) return NotFoundError("no such application: " + application_arn);
    return std::move(apps.front());
  });
}

StatusOr<std::vector<Application>> PostgresStore::ListApplications() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<Application>> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec(TS_APPLICATION_UNION("", "")));
    return ReadApplications(r);
  });
}

Status PostgresStore::DeleteApplication(const std::string& application_arn, int64_t now) {
  return impl_->Single([&](Connection& c) -> Status {
    // Grants, access scopes and assignments go by ON DELETE CASCADE.
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH a AS (DELETE FROM applications WHERE application_arn = $1 "
               "RETURNING application_arn), "
               "f AS (UPDATE token_families SET revoked_at = $2 WHERE application_arn = $1 "
               "AND revoked_at = 0 AND EXISTS (SELECT 1 FROM a)), "
               "c AS (DELETE FROM authorization_codes WHERE application_arn = $1 "
               "AND consumed_at = 0 AND EXISTS (SELECT 1 FROM a)), "
               "t AS (DELETE FROM tags WHERE resource_arn = $1 AND EXISTS (SELECT 1 FROM a)) "
               "SELECT count(*) FROM a",
               MakeParams(application_arn, now)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

Status PostgresStore::PutAssignment(const std::string& application_arn,
                                    const std::string& principal_id,
                                    const std::string& principal_type) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO assignments (application_arn, principal_id, principal_type) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, principal_id) "
        "DO UPDATE SET principal_type = excluded.principal_type",
        MakeParams(application_arn, principal_id, principal_type));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteAssignment(const std::string& application_arn,
                                       const std::string& principal_id) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("DELETE FROM assignments WHERE application_arn = $1 AND principal_id = $2",
                         MakeParams(application_arn, principal_id)));
    if (r.affected() == 0) {
      return NotFoundError("no such assignment: " + principal_id + " to " + application_arn);
    }
    return OkStatus();
  });
}

StatusOr<bool> PostgresStore::IsAssigned(const std::string& application_arn,
                                         const std::string& user_id) {
  return impl_->Read([&](Connection& c) -> StatusOr<bool> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT " TS_USER_ASSIGNED("$1", "$2"),
                                         MakeParams(application_arn, user_id)));
    return r.rows() > 0 && r.Bool(0, 0);
  });
}

StatusOr<Page<Application>> PostgresStore::ListApplicationsPage(const PageRequest& page) {
  if (page.limit <= 0) return InvalidArgumentError("page limit must be positive");
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Application>> {
    // The page's applications with their grants and scopes in one statement (one snapshot).
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH page AS (SELECT application_arn FROM applications WHERE application_arn > $1 "
               "ORDER BY application_arn LIMIT $2) " TS_APPLICATION_UNION(
                   "WHERE application_arn IN (SELECT application_arn FROM page)",
                   "WHERE application_arn IN (SELECT application_arn FROM page)"),
               MakeParams(page.after, static_cast<int64_t>(page.limit) + 1)));
    std::vector<Application> apps = ReadApplications(r);
    Page<Application> out;
    for (Application& app : apps) {
      if (static_cast<int>(out.items.size()) == page.limit) {
        out.next = out.items.back().application_arn;
        break;
      }
      out.items.push_back(std::move(app));
    }
    return out;
  });
}

Status PostgresStore::UpdateApplication(const Application& app) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("UPDATE applications SET name = $1, description = $2, status = $3, "
               "assignment_required = $4, portal_options_json = $5 WHERE application_arn = $6",
               MakeParams(app.name, app.description, app.status, app.assignment_required,
                          app.portal_options_json, app.application_arn)));
    if (r.affected() == 0) return NotFoundError("no such application: " + app.application_arn);
    return OkStatus();
  });
}

Status PostgresStore::PutApplicationGrant(const std::string& application_arn,
                                          const std::string& grant_type,
                                          const std::string& grant_json) {
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO application_grants (application_arn, grant_type, grant_json) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, grant_type) "
        "DO UPDATE SET grant_json = excluded.grant_json",
        MakeParams(application_arn, grant_type, grant_json));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteApplicationGrant(const std::string& application_arn,
                                             const std::string& grant_type) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("DELETE FROM application_grants WHERE application_arn = $1 AND grant_type = $2",
               MakeParams(application_arn, grant_type)));
    if (r.affected() == 0) return NotFoundError("no such grant: " + grant_type);
    return OkStatus();
  });
}

Status PostgresStore::PutApplicationAccessScope(
    const std::string& application_arn, const std::string& scope,
    const std::vector<std::string>& authorized_targets) {
  TS_ASSIGN_OR_RETURN(std::string joined, JoinList(authorized_targets, "AuthorizedTargets"));
  return impl_->Single([&](Connection& c) -> Status {
    auto r = c.Exec(
        "INSERT INTO application_access_scopes (application_arn, scope, authorized_targets) "
        "VALUES ($1, $2, $3) ON CONFLICT (application_arn, scope) "
        "DO UPDATE SET authorized_targets = excluded.authorized_targets",
        MakeParams(application_arn, scope, joined));
    if (!r.ok() && c.ForeignKeyViolated()) {
      return NotFoundError("no such application: " + application_arn);
    }
    return r.status();
  });
}

Status PostgresStore::DeleteApplicationAccessScope(const std::string& application_arn,
                                                   const std::string& scope) {
  return impl_->Write([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(bool exists, ApplicationExists(c, application_arn));
    if (!exists) return NotFoundError("no such application: " + application_arn);
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("DELETE FROM application_access_scopes WHERE application_arn = $1 AND scope = $2",
               MakeParams(application_arn, scope)));
    if (r.affected() == 0) return NotFoundError("no such access scope: " + scope);
    return OkStatus();
  });
}

Status PostgresStore::SetActorPolicy(const std::string& application_arn,
                                     const std::string& actor_policy_json) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("UPDATE applications SET actor_policy_json = $1 WHERE application_arn = $2",
               MakeParams(actor_policy_json, application_arn)));
    if (r.affected() == 0) return NotFoundError("no such application: " + application_arn);
    return OkStatus();
  });
}

StatusOr<Page<Assignment>> PostgresStore::ListAssignments(const std::string& application_arn,
                                                          const PageRequest& page) {
  return impl_->Read([&](Connection& c) -> StatusOr<Page<Assignment>> {
    return RunPage<Assignment>(
        c,
        "SELECT application_arn, principal_id, principal_type FROM assignments WHERE "
        "application_arn = $1 AND principal_id > $2 ORDER BY principal_id LIMIT $3",
        MakeParams(application_arn), page,
        [](const Result& r, int row) {
          return Assignment{r.Text(row, 0), r.Text(row, 1), r.Text(row, 2)};
        },
        [](const Assignment& a) { return a.principal_id; });
  });
}

// --- trusted token issuers ---

Status PostgresStore::PutTrustedTokenIssuer(const TrustedTokenIssuer& issuer) {
  if (issuer.arn.empty()) return InvalidArgumentError("trusted token issuer arn is empty");
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO trusted_token_issuers (" TS_TTI_COLUMNS
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (arn) DO UPDATE SET "
            "instance_arn = excluded.instance_arn, name = excluded.name, "
            "issuer_type = excluded.issuer_type, issuer_url = excluded.issuer_url, "
            "claim_attribute_path = excluded.claim_attribute_path, "
            "identity_store_attribute_path = excluded.identity_store_attribute_path, "
            "jwks_retrieval_option = excluded.jwks_retrieval_option, "
            "created_at = excluded.created_at",
            MakeParams(issuer.arn, issuer.instance_arn, issuer.name, issuer.type, issuer.issuer_url,
                       issuer.claim_attribute_path, issuer.identity_store_attribute_path,
                       issuer.jwks_retrieval_option, issuer.created_at))
        .status();
  });
}

StatusOr<TrustedTokenIssuer> PostgresStore::GetTrustedTokenIssuer(const std::string& arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<TrustedTokenIssuer> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_TTI_COLUMNS " FROM trusted_token_issuers WHERE arn = $1",
                         MakeParams(arn)));
    if (r.rows() == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return ReadTrustedTokenIssuer(r, 0);
  });
}

StatusOr<std::vector<TrustedTokenIssuer>> PostgresStore::ListTrustedTokenIssuers() {
  return impl_->Read([&](Connection& c) -> StatusOr<std::vector<TrustedTokenIssuer>> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT " TS_TTI_COLUMNS " FROM trusted_token_issuers ORDER BY arn"));
    std::vector<TrustedTokenIssuer> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(ReadTrustedTokenIssuer(r, i));
    return out;
  });
}

Status PostgresStore::DeleteTrustedTokenIssuer(const std::string& arn) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(
        Result r,
        c.Exec("WITH i AS (DELETE FROM trusted_token_issuers WHERE arn = $1 RETURNING arn), "
               "t AS (DELETE FROM tags WHERE resource_arn = $1 AND EXISTS (SELECT 1 "
               "FROM i)) SELECT count(*) FROM i",
               MakeParams(arn)));
    if (r.Int(0, 0) == 0) return NotFoundError("no such trusted token issuer: " + arn);
    return OkStatus();
  });
}

// --- tags ---

Status PostgresStore::TagResource(const std::string& resource_arn,
                                  const std::map<std::string, std::string>& tags) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const auto& [key, value] : tags) {
      TS_RETURN_IF_ERROR(c.Exec("INSERT INTO tags (resource_arn, tag_key, tag_value) "
                                "VALUES ($1, $2, $3) ON CONFLICT (resource_arn, tag_key) "
                                "DO UPDATE SET tag_value = excluded.tag_value",
                                MakeParams(resource_arn, key, value))
                             .status());
    }
    return OkStatus();
  });
}

Status PostgresStore::UntagResource(const std::string& resource_arn,
                                    const std::vector<std::string>& keys) {
  return impl_->Write([&](Connection& c) -> Status {
    for (const std::string& key : keys) {
      TS_RETURN_IF_ERROR(c.Exec("DELETE FROM tags WHERE resource_arn = $1 AND tag_key = $2",
                                MakeParams(resource_arn, key))
                             .status());
    }
    return OkStatus();
  });
}

StatusOr<std::map<std::string, std::string>> PostgresStore::ListTags(
    const std::string& resource_arn) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::map<std::string, std::string>> {
    TS_ASSIGN_OR_RETURN(Result r,
                        c.Exec("SELECT tag_key, tag_value FROM tags WHERE resource_arn = $1",
                               MakeParams(resource_arn)));
    std::map<std::string, std::string> tags;
    for (int i = 0; i < r.rows(); ++i) tags[r.Text(i, 0)] = r.Text(i, 1);
    return tags;
  });
}

}  // namespace ts::storage
