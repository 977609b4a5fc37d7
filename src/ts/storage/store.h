// File: store.h
// The storage interfaces, one per aggregate, and `Store`, the whole database that a backend
// implements: SQLite (sqlite/, the embedded default) and PostgreSQL (postgres/, several nodes),
// both held to the conformance suite in conformance/. Components take only the interfaces they
// use (docs/design/storage.md says why the cut is where it is):
//
//   InstanceStore      the instance and metadata                        instance_store.h
//   DirectoryStore     users, groups, memberships, attribute lookups    directory_store.h
//   ApplicationStore   applications, assignments, issuers, tags         application_store.h
//   CredentialStore    IAM principals and access keys                   credential_store.h
//   KeyStore           token-signing keys                               key_store.h
//   SessionStore       sign-in sessions, failed sign-in windows         session_store.h
//   GrantStore         codes, token families, refresh tokens, ...       grant_store.h
//   ClientStore        registered clients, device authorizations        client_store.h
//   HousekeepingStore  the purge of what has expired                    housekeeping_store.h
//   AccountStore       accounts, permission sets, account assignments,  account_store.h
//                      role credentials (the access portal)
//
// Contract shared by every method of every interface:
// - Each state change is one transaction: it happens whole or not at all. A change that reaches
//   into another aggregate's tables (deleting a user revokes their token families) is still one.
// - A method that returns OK has made its change durable (the backend syncs before returning).
// - Lookups of something absent return NotFound; inserting a duplicate key returns AlreadyExists;
//   anything else the backend could not do is Unavailable (transient) or Internal.
// - Implementations are thread-safe; callers need no lock of their own.
#pragma once

#include <memory>
#include <type_traits>

#include "ts/storage/account_store.h"
#include "ts/storage/application_store.h"
#include "ts/storage/client_store.h"
#include "ts/storage/credential_store.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/grant_store.h"
#include "ts/storage/housekeeping_store.h"
#include "ts/storage/instance_store.h"
#include "ts/storage/key_store.h"
#include "ts/storage/session_store.h"

namespace ts::storage {

// One database behind every interface: what a backend implements, what `tessera serve` and the
// CLI open, and what hands each component its part (a shared_ptr<Store> converts to a
// shared_ptr of any of its interfaces).
class Store : public InstanceStore,
              public DirectoryStore,
              public ApplicationStore,
              public CredentialStore,
              public KeyStore,
              public SessionStore,
              public GrantStore,
              public ClientStore,
              public HousekeepingStore,
              public AccountStore {
 public:
  ~Store() override = default;
  // GrantStore's and AccountStore's completion types are the same; one name for both.
  using WriteDone = GrantStore::WriteDone;
  static_assert(std::is_same_v<GrantStore::WriteDone, AccountStore::WriteDone>);
};
using StorePtr = std::shared_ptr<Store>;

}  // namespace ts::storage
