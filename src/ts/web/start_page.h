// File: start_page.h
// The access portal's start page at /start, the instance's start URL as a user knows it from
// AWS (docs/design/access-portal.md):
//
//   GET  /start                  signed out: the sign-in form (SignIn: the session, throttles and
//                                CSRF defence /authorize and /device use); signed in: the
//                                applications assigned to the user, and the accounts they hold
//                                roles on with those roles, each with a "Command line or
//                                programmatic access" form
//   POST /start step=signin      the password; then 303 back to GET /start
//   POST /start step=credentials account_id and role_name (the permission set's name): issues
//                                role credentials (portal::PrepareRoleCredential, then
//                                AccountStore::IssueRoleCredential) linked to the sign-in session,
//                                so that signing out (POST /logout) deletes them, and shows them
//                                as AWS does: export / set / $Env: lines and a credentials-file
//                                profile, with their expiry
//
// Every POST is checked against the CSRF cookie scoped to /start (SignIn::CheckCsrf). Secrets
// appear only in the body of the POST's answer (no-store, never in a URL, never logged). No
// scripts; every value is escaped.
//
// Thread-safe.
#pragma once

#include <memory>
#include <string>

#include "ts/common/clock.h"
#include "ts/http/message.h"
#include "ts/storage/account_store.h"
#include "ts/storage/application_store.h"
#include "ts/storage/directory_store.h"
#include "ts/web/sign_in.h"

namespace ts::web {

// The storage the page uses (storage/store.h); one database serves all three.
struct StartPageStorage {
  std::shared_ptr<storage::AccountStore> accounts;          // roles, role credentials
  std::shared_ptr<storage::ApplicationStore> applications;  // the user's applications
  std::shared_ptr<storage::DirectoryStore> directory;       // the signed-in user
};

struct StartPageOptions {
  std::string public_url;         // e.g. http://127.0.0.1:8080: where the credentials are accepted
  std::string region;             // the SSO region `aws configure sso` asks for
  std::string identity_store_id;  // the start URL's host: https://<id>.awsapps.com/start
  // Seals the secret access keys it issues (server/master_key.h MasterKeys::iam_secrets).
  std::string seal_key;
};

class StartPageHandler {
 public:
  StartPageHandler(StartPageStorage storage, std::shared_ptr<SignIn> sign_in, ClockPtr clock,
                   StartPageOptions options);

  http::Response Get(const http::Request& request);
  http::Response Post(const http::Request& request);

 private:
  // The portal for the session's user; `error` in an alert region when not empty.
  http::Response PortalPage(const storage::SignInSession& session, const std::string& csrf,
                            const std::string& error, int status);
  http::Response SignInPage(const std::string& user_name, const std::string& error, int status,
                            const std::string& csrf);
  http::Response IssueCredentials(const storage::SignInSession& session, const std::string& csrf,
                                  const std::string& account_id, const std::string& role_name);

  StartPageStorage storage_;
  std::shared_ptr<SignIn> sign_in_;
  ClockPtr clock_;
  StartPageOptions options_;
};

}  // namespace ts::web
