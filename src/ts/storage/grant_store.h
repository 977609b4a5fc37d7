// File: grant_store.h
// GrantStore: what the token endpoint writes and reads per request: authorization codes, token
// families and their refresh tokens, exchange lineage, used jwt-bearer assertions and revoked
// access tokens. The single-use and rotation rules are compare-and-sets settled by the database.
// Its writes come in two forms, blocking and `...Async` (for the server's io threads, which
// never wait); see the comment at each pair. The contract every storage interface shares is in
// store.h.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/audit.h"
#include "ts/storage/directory_store.h"
#include "ts/storage/records.h"

namespace ts::storage {

// What RedeemAuthorizationCode did.
enum class RedeemOutcome {
  kRedeemed,         // the code was unused and unexpired; the family (and token) now exist
  kAlreadyRedeemed,  // the code was used before; the family that use created is now revoked
  kExpired,          // the code exists but expired; nothing changed
};

// What RotateRefreshToken did.
enum class RotateOutcome {
  kRotated,         // the token was current; it is now rotated and the successor stored
  kAlreadyRotated,  // the token was rotated before; nothing changed (caller applies reuse policy)
  kFamilyRevoked,   // the family is revoked; nothing changed
};

struct RefreshTokenWithFamily {
  RefreshToken token;
  TokenFamily family;
  // The family's user is assigned to the family's application, directly or through a group
  // (what IsAssigned answers), read with the token so the refresh grant needs no second read.
  bool user_assigned = false;
};

// An authorization code with what its redemption checks besides the code: whether the user it
// was issued to still exists, read with the code so the grant needs no second read (one round
// trip on PostgreSQL).
struct CodeToRedeem {
  AuthorizationCode code;
  bool user_exists = false;
};

// What token exchange checks about its subject token (an access token) besides the token itself,
// read in one statement so the grant needs one round trip on PostgreSQL (it was four reads).
struct ExchangeSubject {
  bool token_revoked = false;         // its jti was revoked (RevokeAccessToken)
  std::optional<TokenFamily> family;  // the family it was issued from; nullopt when gone
  bool user_exists = false;
  // The user is assigned to the exchange's target application, directly or through a group
  // (what IsAssigned answers).
  bool user_assigned = false;
};

class GrantStore {
 public:
  virtual ~GrantStore() = default;

  // The token endpoint's four writes (RedeemAuthorizationCode, RotateRefreshToken,
  // CreateFamilyForAssertion, CreateExchangedFamily) come in two forms: blocking, and `...Async`
  // for callers that must not wait for the commit (the server's io threads). Both stay, because
  // both have callers: the io threads need the asynchronous form on a store that
  // GrantsWithoutBlocking(); the worker threads on a store that blocks (PostgreSQL), the CLI and
  // the tests call the blocking one. A backend always implements the blocking form; the
  // `...Async` default calls it and so blocks (PostgreSQL, whose statement is a round trip on the
  // calling thread, needs nothing more). A backend whose commits complete on a thread of its own
  // implements the asynchronous form too, sharing one transaction body with the blocking one
  // (SQLite). Deriving SQLite's blocking form from its asynchronous one instead was measured and
  // not kept: each blocking caller then needs a wake-up of its own from the writer thread, where
  // the blocking form wakes a whole batch with one broadcast (BM_StoreRotateRefreshToken at 32
  // threads: 10-15% fewer rotations a second; BENCHMARKS.md). An `...Async` completion gets what
  // the blocking form would return, once the change is durable, exactly once, possibly on
  // another thread and possibly before the call returns; it must be quick and must not call the
  // store.

  // --- authorization codes ---
  virtual Status CreateAuthorizationCode(const AuthorizationCode& code) = 0;
  virtual StatusOr<AuthorizationCode> GetAuthorizationCode(const std::string& code_hash) = 0;
  // NotFound when there is no such code (whatever its user).
  virtual StatusOr<CodeToRedeem> GetCodeToRedeem(const std::string& code_hash) = 0;
  // One transaction: if the code is unused and `now` < expires_at, marks it consumed, records
  // `family.family_id` on it, inserts `family` and, when given, `first_refresh` -> kRedeemed.
  // If it was consumed before, revokes the family that use created -> kAlreadyRedeemed.
  // If it expired -> kExpired. NotFound if no such code.
  virtual StatusOr<RedeemOutcome> RedeemAuthorizationCode(
      const std::string& code_hash, int64_t now, const TokenFamily& family,
      const std::optional<RefreshToken>& first_refresh) = 0;
  using RedeemDone = std::function<void(StatusOr<RedeemOutcome>)>;
  virtual void RedeemAuthorizationCodeAsync(const std::string& code_hash, int64_t now,
                                            const TokenFamily& family,
                                            const std::optional<RefreshToken>& first_refresh,
                                            RedeemDone done);

  // --- token families and refresh tokens ---
  // Inserts a family and, when given, its first refresh token (grants without a code).
  virtual Status CreateFamily(const TokenFamily& family,
                              const std::optional<RefreshToken>& first_refresh) = 0;
  // Token exchange: inserts `family`, whose parent_family_id names the exchanged token's family,
  // and when given its first refresh token, unless the parent family is revoked or gone; then
  // FailedPrecondition("parent token family is revoked") and no live family is left behind, so a
  // revocation racing with the exchange reaches the new family too. InvalidArgument for an empty
  // parent_family_id. The default writes the family, reads the parent again and revokes the new
  // family if the parent was revoked meanwhile; a backend with one writer checks inside the
  // transaction instead, and PostgreSQL reads the parent FOR SHARE in the inserting statement.
  virtual Status CreateExchangedFamily(const TokenFamily& family,
                                       const std::optional<RefreshToken>& first_refresh);
  using WriteDone = std::function<void(Status)>;
  virtual void CreateExchangedFamilyAsync(const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh,
                                          WriteDone done);
  virtual StatusOr<TokenFamily> GetFamily(const std::string& family_id) = 0;
  // Revokes the family and every family descended from it by token exchange (parent_family_id),
  // in one transaction. Idempotent; NotFound if no such family.
  virtual Status RevokeFamily(const std::string& family_id, int64_t now) = 0;
  virtual StatusOr<RefreshTokenWithFamily> GetRefreshToken(const std::string& token_hash) = 0;
  // Compare-and-set: if `old_hash` is current (not rotated) and its family live, marks it rotated
  // at `now` with `successor.token_hash` as successor and inserts `successor` -> kRotated.
  virtual StatusOr<RotateOutcome> RotateRefreshToken(const std::string& old_hash, int64_t now,
                                                     const RefreshToken& successor) = 0;
  using RotateDone = std::function<void(StatusOr<RotateOutcome>)>;
  virtual void RotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                       const RefreshToken& successor, RotateDone done);
  // The refresh grant's read and rotation in one step, for callers that must not wait for the
  // commit: reads the token `old_hash` with its family (NotFound if there is none) and passes
  // them to `check`, which returns the successor to store, or an error that `done` then gets
  // with nothing changed. A token rotated before is not rotated again (kAlreadyRotated);
  // otherwise the rotation is RotateRefreshToken's compare-and-set. `check` may run on the
  // store's own thread: it must be quick and must not call the store. `done` is called as an
  // `...Async` completion is. There is no blocking form: only the io threads call it. A backend
  // that writes on a thread of its own reads there too, where its cache is current (SQLite: a
  // reader's page cache is dropped by every commit); the default reads with GetRefreshToken and
  // then calls RotateRefreshTokenAsync.
  using RotationCheck = std::function<StatusOr<RefreshToken>(const RefreshTokenWithFamily&)>;
  virtual void CheckAndRotateRefreshTokenAsync(const std::string& old_hash, int64_t now,
                                               const RotationCheck& check, RotateDone done);
  // CheckAndRotateRefreshTokenAsync's decision on the row it read, for every backend: the
  // check's error, or nullopt for a token rotated before, or the successor to rotate to. The
  // check runs first either way (its caller needs the row for its reuse policy).
  static StatusOr<std::optional<RefreshToken>> CheckedSuccessor(const RefreshTokenWithFamily& read,
                                                                const RotationCheck& check) {
    StatusOr<RefreshToken> successor = check(read);
    if (!successor.ok()) return successor.status();
    if (read.token.rotated_at != 0) return std::optional<RefreshToken>();
    return std::optional<RefreshToken>(std::move(*successor));
  }

  // True when the token endpoint's grants never wait on this store from the calling thread:
  // their reads are local and short, and RotateRefreshTokenAsync, RedeemAuthorizationCodeAsync,
  // CreateFamilyForAssertionAsync and CreateExchangedFamilyAsync do not block. The token
  // endpoint then serves those grants on its io threads; otherwise it hands them to its pool of
  // blocking threads.
  virtual bool GrantsWithoutBlocking() const { return false; }
  // True when the `...Async` writes above do not block (their commit completes on a thread of
  // the store's own) even though the reads may: the token endpoint then reads on a worker
  // thread and lets it go while the write commits (PostgreSQL's group-commit writer). Implied
  // by GrantsWithoutBlocking().
  virtual bool GrantWritesWithoutBlocking() const { return GrantsWithoutBlocking(); }

  // One transaction: records `assertion_id` (a JWT bearer assertion's replay key) as used until
  // `assertion_expires_at`, then inserts the family and, when given, its first refresh token.
  // AlreadyExists("assertion has already been used") if the id is recorded already; then nothing
  // is written. InvalidArgument for an empty id.
  virtual Status CreateFamilyForAssertion(const TokenFamily& family,
                                          const std::optional<RefreshToken>& first_refresh,
                                          const std::string& assertion_id,
                                          int64_t assertion_expires_at) = 0;
  virtual void CreateFamilyForAssertionAsync(const TokenFamily& family,
                                             const std::optional<RefreshToken>& first_refresh,
                                             const std::string& assertion_id,
                                             int64_t assertion_expires_at, WriteDone done);

  // True when the writer can read too, so the jwt-bearer and token-exchange grants' reads and
  // writes go to it in one step (CheckAndCreateFamilyForAssertionAsync,
  // CheckAndCreateExchangedFamilyAsync) and make no round trip of their own.
  virtual bool ChecksGrantsInWriter() const { return false; }

  // The jwt-bearer grant's read and write in one step, for stores whose writer can read too
  // (ChecksGrantsInWriter): reads the users matching `lookup` (as DirectoryStore::
  // FindUsersByAttributeWithAssignment does) and passes them to `check`, which returns what to
  // write (CreateFamilyForAssertion's arguments and the grant's audit event, recorded with the
  // family only) or an error that `done` then gets with nothing written. `check` runs on the
  // store's own thread: it must be quick and must not call the store. `done` is called as an
  // `...Async` completion is. The default answers FailedPrecondition.
  struct AssertionUserLookup {
    std::string attribute_path;
    std::string value;
    std::string application_arn;
  };
  struct AssertionWrite {
    TokenFamily family;
    std::optional<RefreshToken> first_refresh;
    std::string assertion_id;
    int64_t assertion_expires_at = 0;
    std::optional<AuditEvent> event;
  };
  using AssertionCheck =
      std::function<StatusOr<AssertionWrite>(const std::vector<UserWithAssignment>& users)>;
  virtual void CheckAndCreateFamilyForAssertionAsync(const AssertionUserLookup& lookup,
                                                     AssertionCheck check, WriteDone done);

  // The subject token `token_id` (issued from `family_id` to `user_id`) as token exchange into
  // `application_arn` needs it: never NotFound, a missing family or user is in the answer.
  virtual StatusOr<ExchangeSubject> GetExchangeSubject(const std::string& token_id,
                                                       const std::string& family_id,
                                                       const std::string& user_id,
                                                       const std::string& application_arn) = 0;
  // Token exchange's read and write in one step (ChecksGrantsInWriter), as
  // CheckAndCreateFamilyForAssertionAsync: reads the subject as GetExchangeSubject does and passes
  // it to `check`, which returns what to write (CreateExchangedFamily's arguments and the grant's
  // audit event, recorded with the family only) or an error that `done` then gets with nothing
  // written. The default answers FailedPrecondition.
  struct ExchangeSubjectLookup {
    std::string token_id;
    std::string family_id;
    std::string user_id;
    std::string application_arn;
  };
  struct ExchangeWrite {
    TokenFamily family;
    std::optional<RefreshToken> first_refresh;
    std::optional<AuditEvent> event;
  };
  using ExchangeCheck = std::function<StatusOr<ExchangeWrite>(const ExchangeSubject& subject)>;
  virtual void CheckAndCreateExchangedFamilyAsync(const ExchangeSubjectLookup& lookup,
                                                  ExchangeCheck check, WriteDone done);

  // --- revoked access tokens (RFC 7009) ---
  // Records that the access token with this jti is revoked; kept until `expires_at` (the token's
  // own exp), after which the token is dead anyway. Idempotent.
  virtual Status RevokeAccessToken(const std::string& token_id, int64_t expires_at) = 0;
  virtual StatusOr<bool> IsAccessTokenRevoked(const std::string& token_id) = 0;
};

}  // namespace ts::storage
