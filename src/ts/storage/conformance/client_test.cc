// File: client_test.cc
// The conformance suite's ClientStore cases: registered clients, device authorizations from
// their start to their redemption (with the race of concurrent redemptions), what the purge,
// RevokeSession and DeleteUser do to them, and the OpenID Connect nonce of authorization codes
// (see conformance_test.h). Every failure path checks that nothing was written.
#include <gmock/gmock.h>

#include <optional>
#include <string>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/status_matchers.h"
#include "ts/storage/conformance/conformance_test.h"

namespace ts::storage::conformance {
namespace {

using ::testing::Eq;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

constexpr char kClientId[] = "aBcDeFgHiJkLmNoPqRsTuVdXMtZWFzdC0x";
constexpr char kDeviceGrant[] = "urn:ietf:params:oauth:grant-type:device_code";
constexpr int64_t kDeviceLifetime = 600;

RegisteredClient MakeClient(const std::string& id) {
  RegisteredClient c;
  c.client_id = id;
  c.secret_hash = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";
  c.client_name = "botocore-client-my-sso";
  c.client_type = "public";
  c.scopes = {"sso:account:access", "openid"};
  c.redirect_uris = {"http://127.0.0.1/oauth/callback"};
  c.grant_types = {"authorization_code", "refresh_token", kDeviceGrant};
  c.issuer_url = "https://identitycenter.amazonaws.com/ssoins-111111111111";
  c.entitled_application_arn = kAppArn;
  c.created_at = kNow;
  c.secret_expires_at = kNow + 90 * 86400;
  return c;
}

DeviceAuthorization MakeDevice(const std::string& device_code_hash,
                               const std::string& user_code_hash, int64_t created_at = kNow) {
  DeviceAuthorization d;
  d.device_code_hash = device_code_hash;
  d.user_code_hash = user_code_hash;
  d.client_id = kClientId;
  d.scopes = {"sso:account:access"};
  d.created_at = created_at;
  d.expires_at = created_at + kDeviceLifetime;
  d.interval = 1;
  return d;
}

// A family as the device_code grant makes it for `user_id`.
TokenFamily DeviceFamily(const std::string& id, const std::string& user_id = "user-1") {
  TokenFamily f = MakeFamily(id, user_id, kClientId, "session-1");
  f.grant_type = kDeviceGrant;
  f.scopes = {"sso:account:access"};
  return f;
}

// Creates a device authorization and approves it as user-1 in session-1.
void CreateApproved(Store& store, const std::string& device, const std::string& user_code) {
  ASSERT_THAT(store.CreateDeviceAuthorization(MakeDevice(device, user_code)), IsOk());
  ASSERT_THAT(store.DecideDeviceAuthorization(user_code, /*approve=*/true, "user-1", "session-1",
                                              kNow - 30, kNow + 10),
              IsOk());
}

// --- registered clients ---

TEST_P(StoreConformanceTest, RegisteredClientCreateGetDuplicateAndNotFound) {
  const RegisteredClient client = MakeClient(kClientId);
  ASSERT_THAT(store_->CreateClient(client), IsOk());
  EXPECT_THAT(store_->GetClient(kClientId), IsOkAndHolds(Eq(client)));

  RegisteredClient other = MakeClient(kClientId);
  other.client_name = "another";
  other.secret_hash = std::string(64, 'f');
  EXPECT_THAT(store_->CreateClient(other),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr(kClientId)));
  EXPECT_THAT(store_->GetClient(kClientId), IsOkAndHolds(Eq(client)));  // the first stays
  EXPECT_THAT(store_->GetClient("unknown-client"),
              StatusIs(StatusCode::kNotFound, HasSubstr("unknown-client")));
}

TEST_P(StoreConformanceTest, RegisteredClientWithoutOptionalFieldsRoundTrips) {
  RegisteredClient client = MakeClient("client-2");
  client.scopes = {};
  client.redirect_uris = {};
  client.grant_types = {};
  client.issuer_url = "";
  client.entitled_application_arn = "";
  ASSERT_THAT(store_->CreateClient(client), IsOk());
  EXPECT_THAT(store_->GetClient("client-2"), IsOkAndHolds(Eq(client)));
}

TEST_P(StoreConformanceTest, RegisteredClientListEntryWithWhitespaceIsRefused) {
  RegisteredClient bad_uri = MakeClient("client-1");
  bad_uri.redirect_uris = {"http://127.0.0.1/a b"};
  EXPECT_THAT(store_->CreateClient(bad_uri),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("redirect URI")));
  RegisteredClient bad_scope = MakeClient("client-1");
  bad_scope.scopes = {""};
  EXPECT_THAT(store_->CreateClient(bad_scope),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("scope")));
  RegisteredClient bad_grant = MakeClient("client-1");
  bad_grant.grant_types = {"refresh_token\tx"};
  EXPECT_THAT(store_->CreateClient(bad_grant),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("grant type")));
  EXPECT_THAT(store_->GetClient("client-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("client-1")));
  EXPECT_THAT(store_->CountLiveClients(kNow), IsOkAndHolds(0));
}

TEST_P(StoreConformanceTest, CountLiveClientsCountsUnexpiredSecrets) {
  EXPECT_THAT(store_->CountLiveClients(kNow), IsOkAndHolds(0));
  const int64_t expiries[] = {kNow - 1, kNow, kNow + 1, kNow + 100, 0};
  for (int i = 0; i < 5; ++i) {
    RegisteredClient client = MakeClient("client-" + std::to_string(i));
    client.secret_expires_at = expiries[i];
    ASSERT_THAT(store_->CreateClient(client), IsOk());
  }
  // Expired at `now` exactly is expired; 0 never expires.
  EXPECT_THAT(store_->CountLiveClients(kNow), IsOkAndHolds(3));
  EXPECT_THAT(store_->CountLiveClients(kNow + 100), IsOkAndHolds(1));
  EXPECT_THAT(store_->CountLiveClients(kNow - 10), IsOkAndHolds(5));
}

// --- device authorizations: start ---

TEST_P(StoreConformanceTest, DeviceAuthorizationCreateAndGet) {
  const DeviceAuthorization device = MakeDevice("device-1", "user-code-1");
  ASSERT_THAT(store_->CreateDeviceAuthorization(device), IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(device)));
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-1", kNow + 1),
              IsOkAndHolds(Eq(device)));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-9"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-9", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationByUserCodeOnlyWhileLive) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-1", kNow + kDeviceLifetime - 1),
              IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-1", kNow + kDeviceLifetime),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  // By its device code it is still there (CreateToken answers ExpiredTokenException).
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOk());
}

TEST_P(StoreConformanceTest, DeviceAuthorizationDuplicateDeviceCodeWritesNothing) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  EXPECT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-2")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-2", kNow),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_EQ(store_->GetDeviceAuthorization("device-1")->user_code_hash, "user-code-1");
}

TEST_P(StoreConformanceTest, DeviceAuthorizationLiveUserCodeIsAlreadyExists) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  // Still live one second before it expires: the caller must draw another user code.
  EXPECT_THAT(store_->CreateDeviceAuthorization(
                  MakeDevice("device-2", "user-code-1", kNow + kDeviceLifetime - 1)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("user code")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"),
              IsOkAndHolds(Eq(MakeDevice("device-1", "user-code-1"))));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationExpiredUserCodeIsReused) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  const DeviceAuthorization next = MakeDevice("device-2", "user-code-1", kNow + kDeviceLifetime);
  ASSERT_THAT(store_->CreateDeviceAuthorization(next), IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorizationByUserCode("user-code-1", kNow + kDeviceLifetime),
              IsOkAndHolds(Eq(next)));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationFailedCreateKeepsTheExpiredHolder) {
  // device-1 holds user-code-1 and has expired; device-2 is live. A creation that would free
  // user-code-1 but fails on device-2's code must leave device-1 as it was.
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-2", "user-code-2", kNow + 500)),
              IsOk());
  EXPECT_THAT(store_->CreateDeviceAuthorization(
                  MakeDevice("device-2", "user-code-1", kNow + kDeviceLifetime)),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"),
              IsOkAndHolds(Eq(MakeDevice("device-1", "user-code-1"))));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationInvalidRecordIsRefused) {
  DeviceAuthorization unknown_status = MakeDevice("device-1", "user-code-1");
  unknown_status.status = "MAYBE";
  EXPECT_THAT(store_->CreateDeviceAuthorization(unknown_status),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("MAYBE")));
  DeviceAuthorization bad_scope = MakeDevice("device-1", "user-code-1");
  bad_scope.scopes = {"sso:account:access openid"};
  EXPECT_THAT(store_->CreateDeviceAuthorization(bad_scope),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("scope")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
}

// --- device authorizations: the user's decision ---

TEST_P(StoreConformanceTest, DeviceAuthorizationApproveRecordsTheUserOnce) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  ASSERT_THAT(store_->DecideDeviceAuthorization("user-code-1", true, "user-1", "session-1",
                                                kNow - 30, kNow + 10),
              IsOk());
  DeviceAuthorization approved = MakeDevice("device-1", "user-code-1");
  approved.status = "APPROVED";
  approved.user_id = "user-1";
  approved.session_hash = "session-1";
  approved.auth_time = kNow - 30;
  approved.decided_at = kNow + 10;
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(approved)));

  EXPECT_THAT(store_->DecideDeviceAuthorization("user-code-1", false, "", "", 0, kNow + 11),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("already decided")));
  EXPECT_THAT(store_->DecideDeviceAuthorization("user-code-1", true, "user-2", "session-2", kNow,
                                                kNow + 12),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("already decided")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(approved)));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationDenyRecordsNoUser) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  ASSERT_THAT(store_->DecideDeviceAuthorization("user-code-1", false, "user-1", "session-1",
                                                kNow - 30, kNow + 10),
              IsOk());
  DeviceAuthorization denied = MakeDevice("device-1", "user-code-1");
  denied.status = "DENIED";
  denied.decided_at = kNow + 10;
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(denied)));
  EXPECT_THAT(store_->DecideDeviceAuthorization("user-code-1", true, "user-1", "session-1",
                                                kNow - 30, kNow + 11),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("already decided")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(denied)));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationDecisionAfterExpiryChangesNothing) {
  const DeviceAuthorization device = MakeDevice("device-1", "user-code-1");
  ASSERT_THAT(store_->CreateDeviceAuthorization(device), IsOk());
  EXPECT_THAT(store_->DecideDeviceAuthorization("user-code-1", true, "user-1", "session-1", kNow,
                                                kNow + kDeviceLifetime),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("expired")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(device)));
}

TEST_P(StoreConformanceTest, DeviceAuthorizationBadDecisionIsRefused) {
  const DeviceAuthorization device = MakeDevice("device-1", "user-code-1");
  ASSERT_THAT(store_->CreateDeviceAuthorization(device), IsOk());
  EXPECT_THAT(
      store_->DecideDeviceAuthorization("user-code-9", true, "user-1", "session-1", kNow, kNow + 1),
      StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(
      store_->DecideDeviceAuthorization("user-code-1", true, "", "session-1", kNow, kNow + 1),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(
      store_->DecideDeviceAuthorization("user-code-1", true, "user-1", "session-1", kNow, 0),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(device)));
}

TEST_P(StoreConformanceTest, ConcurrentDecisionsHaveExactlyOneWinner) {
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-1", "user-code-1")), IsOk());
  std::vector<Status> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    results[i] = store_->DecideDeviceAuthorization(
        "user-code-1", i % 2 == 0, "user-" + std::to_string(i), "session-1", kNow, kNow + 1);
  });
  int won = -1;
  for (int i = 0; i < kThreads; ++i) {
    if (results[i].ok()) {
      EXPECT_EQ(won, -1) << "two decisions were recorded";
      won = i;
    } else {
      EXPECT_THAT(results[i],
                  StatusIs(StatusCode::kFailedPrecondition, HasSubstr("already decided")));
    }
  }
  ASSERT_NE(won, -1);
  auto device = store_->GetDeviceAuthorization("device-1");
  ASSERT_THAT(device, IsOk());
  EXPECT_EQ(device->status, won % 2 == 0 ? "APPROVED" : "DENIED");
  EXPECT_EQ(device->user_id, won % 2 == 0 ? "user-" + std::to_string(won) : "");
}

// --- device authorizations: redemption ---

TEST_P(StoreConformanceTest, RedeemDeviceAuthorizationPendingDeniedExpiredChangeNothing) {
  const DeviceAuthorization pending = MakeDevice("device-1", "user-code-1");
  ASSERT_THAT(store_->CreateDeviceAuthorization(pending), IsOk());
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 5, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(DeviceRedeemOutcome::kPending));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(pending)));

  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-2", "user-code-2")), IsOk());
  ASSERT_THAT(store_->DecideDeviceAuthorization("user-code-2", false, "", "", 0, kNow + 1), IsOk());
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-2", kNow + 5, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(DeviceRedeemOutcome::kDenied));
  EXPECT_EQ(store_->GetDeviceAuthorization("device-2")->consumed_at, 0);

  // Approved, but redeemed at its expiry: expired wins.
  CreateApproved(*store_, "device-3", "user-code-3");
  EXPECT_THAT(
      store_->RedeemDeviceAuthorization("device-3", kNow + kDeviceLifetime, DeviceFamily("fam-1"),
                                        MakeRefresh("rt-1", "fam-1")),
      IsOkAndHolds(DeviceRedeemOutcome::kExpired));
  // A pending one past its expiry is expired too (the poller stops).
  EXPECT_THAT(
      store_->RedeemDeviceAuthorization("device-1", kNow + kDeviceLifetime, DeviceFamily("fam-1"),
                                        MakeRefresh("rt-1", "fam-1")),
      IsOkAndHolds(DeviceRedeemOutcome::kExpired));
  EXPECT_EQ(store_->GetDeviceAuthorization("device-3")->consumed_at, 0);

  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-9", kNow + 5, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-1")),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  EXPECT_THAT(store_->GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, RedeemApprovedDeviceAuthorizationCreatesFamilyAndToken) {
  CreateApproved(*store_, "device-1", "user-code-1");
  const TokenFamily family = DeviceFamily("fam-1");
  const RefreshToken refresh = MakeRefresh("rt-1", "fam-1");
  ASSERT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20, family, refresh),
              IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
  auto device = store_->GetDeviceAuthorization("device-1");
  ASSERT_THAT(device, IsOk());
  EXPECT_EQ(device->consumed_at, kNow + 20);
  EXPECT_EQ(device->family_id, "fam-1");
  EXPECT_EQ(device->status, "APPROVED");
  EXPECT_THAT(store_->GetFamily("fam-1"), IsOkAndHolds(Eq(family)));
  auto token = store_->GetRefreshToken("rt-1");
  ASSERT_THAT(token, IsOk());
  EXPECT_EQ(token->token, refresh);
  EXPECT_EQ(token->family, family);
}

TEST_P(StoreConformanceTest, RedeemApprovedDeviceAuthorizationWithoutRefreshToken) {
  CreateApproved(*store_, "device-1", "user-code-1");
  ASSERT_THAT(
      store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily("fam-1"), std::nullopt),
      IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
  EXPECT_THAT(store_->GetFamily("fam-1"), IsOk());
}

TEST_P(StoreConformanceTest, RedeemDeviceAuthorizationTwiceRevokesTheFamilyAndItsDescendants) {
  CreateApproved(*store_, "device-1", "user-code-1");
  ASSERT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
  ASSERT_THAT(store_->CreateFamily(ExchangedFamily("fam-child", "fam-1"), std::nullopt), IsOk());
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-other"), std::nullopt), IsOk());

  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 30, DeviceFamily("fam-2"),
                                                MakeRefresh("rt-2", "fam-2")),
              IsOkAndHolds(DeviceRedeemOutcome::kAlreadyRedeemed));
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 30);
  EXPECT_EQ(store_->GetFamily("fam-child")->revoked_at, kNow + 30);
  EXPECT_EQ(store_->GetFamily("fam-other")->revoked_at, 0);
  EXPECT_THAT(store_->GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
  EXPECT_THAT(store_->GetRefreshToken("rt-2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  auto device = store_->GetDeviceAuthorization("device-1");
  ASSERT_THAT(device, IsOk());
  EXPECT_EQ(device->consumed_at, kNow + 20);  // the first redemption's
  EXPECT_EQ(device->family_id, "fam-1");

  // Reuse after expiry still revokes (and keeps the first revocation time).
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + kDeviceLifetime + 1,
                                                DeviceFamily("fam-3"), std::nullopt),
              IsOkAndHolds(DeviceRedeemOutcome::kAlreadyRedeemed));
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 30);
}

TEST_P(StoreConformanceTest, RedeemDeviceAuthorizationBadArgumentsChangeNothing) {
  CreateApproved(*store_, "device-1", "user-code-1");
  const DeviceAuthorization approved = *store_->GetDeviceAuthorization("device-1");
  // Another user's family: a caller's bug, refused.
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20,
                                                DeviceFamily("fam-1", "user-2"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("user_id")));
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", 0, DeviceFamily("fam-1"), std::nullopt),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("now")));
  // A first refresh token of another family.
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-9")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("family")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-1"), IsOkAndHolds(Eq(approved)));
  EXPECT_THAT(store_->GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  EXPECT_THAT(store_->GetRefreshToken("rt-1"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
}

TEST_P(StoreConformanceTest, RedeemDeviceAuthorizationIsAllOrNothing) {
  CreateApproved(*store_, "device-1", "user-code-1");
  ASSERT_THAT(store_->CreateFamily(MakeFamily("fam-taken"), MakeRefresh("rt-taken", "fam-taken")),
              IsOk());
  // The family id is taken: the authorization stays unused.
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily("fam-taken"),
                                                std::nullopt),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("fam-taken")));
  EXPECT_EQ(store_->GetDeviceAuthorization("device-1")->consumed_at, 0);
  // The refresh token is taken: neither the family nor the consumption is kept.
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-taken", "fam-1")),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token")));
  EXPECT_EQ(store_->GetDeviceAuthorization("device-1")->consumed_at, 0);
  EXPECT_THAT(store_->GetFamily("fam-1"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-1")));
  // And it can still be redeemed.
  EXPECT_THAT(store_->RedeemDeviceAuthorization("device-1", kNow + 21, DeviceFamily("fam-1"),
                                                MakeRefresh("rt-1", "fam-1")),
              IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
}

TEST_P(StoreConformanceTest, ConcurrentDeviceRedemptionsHaveExactlyOneWinner) {
  CreateApproved(*store_, "device-1", "user-code-1");
  std::vector<StatusOr<DeviceRedeemOutcome>> results(kThreads, InternalError("not run"));
  RunConcurrently(kThreads, [&](int i) {
    const std::string family_id = "fam-" + std::to_string(i);
    results[i] =
        store_->RedeemDeviceAuthorization("device-1", kNow + 20, DeviceFamily(family_id),
                                          MakeRefresh("rt-" + std::to_string(i), family_id));
  });
  int redeemed = 0;
  int already = 0;
  for (const auto& result : results) {
    ASSERT_THAT(result, IsOk());
    if (*result == DeviceRedeemOutcome::kRedeemed) ++redeemed;
    if (*result == DeviceRedeemOutcome::kAlreadyRedeemed) ++already;
  }
  EXPECT_EQ(redeemed, 1);
  EXPECT_EQ(already, kThreads - 1);
  auto device = store_->GetDeviceAuthorization("device-1");
  ASSERT_THAT(device, IsOk());
  // The losers' reuse revoked the winner's family; no loser's family exists.
  auto family = store_->GetFamily(device->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_NE(family->revoked_at, 0);
  int families = 0;
  for (int i = 0; i < kThreads; ++i) {
    if (store_->GetFamily("fam-" + std::to_string(i)).ok()) ++families;
  }
  EXPECT_EQ(families, 1);
}

// --- what other changes do to device authorizations ---

TEST_P(StoreConformanceTest, RevokeSessionDeletesItsUnredeemedDeviceApprovals) {
  ASSERT_THAT(store_->CreateSession(MakeSession("session-1", "user-1")), IsOk());
  CreateApproved(*store_, "device-approved", "user-code-1");
  CreateApproved(*store_, "device-redeemed", "user-code-2");
  ASSERT_THAT(store_->RedeemDeviceAuthorization("device-redeemed", kNow + 20, DeviceFamily("fam-1"),
                                                std::nullopt),
              IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-pending", "user-code-3")),
              IsOk());

  ASSERT_THAT(store_->RevokeSession("session-1", kNow + 30), IsOk());
  // Signed out before the device picked its tokens up: the approval goes.
  EXPECT_THAT(store_->GetDeviceAuthorization("device-approved"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  // The redeemed one stays for reuse detection (its family is revoked with the session).
  EXPECT_THAT(store_->GetDeviceAuthorization("device-redeemed"), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 30);
  EXPECT_THAT(store_->GetDeviceAuthorization("device-pending"), IsOk());
}

TEST_P(StoreConformanceTest, DeleteUserDeletesTheirUnredeemedDeviceApprovals) {
  ASSERT_THAT(store_->CreateUser(MakeUser("user-1", "alice")), IsOk());
  CreateApproved(*store_, "device-approved", "user-code-1");
  CreateApproved(*store_, "device-redeemed", "user-code-2");
  ASSERT_THAT(store_->RedeemDeviceAuthorization("device-redeemed", kNow + 20, DeviceFamily("fam-1"),
                                                std::nullopt),
              IsOkAndHolds(DeviceRedeemOutcome::kRedeemed));
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-pending", "user-code-3")),
              IsOk());

  ASSERT_THAT(store_->DeleteUser("user-1", kNow + 30), IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorization("device-approved"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-redeemed"), IsOk());
  EXPECT_EQ(store_->GetFamily("fam-1")->revoked_at, kNow + 30);
  EXPECT_THAT(store_->GetDeviceAuthorization("device-pending"), IsOk());
}

// --- housekeeping ---

TEST_P(StoreConformanceTest, PurgeExpiredRemovesExpiredClientsAndDeviceAuthorizations) {
  RegisteredClient old_client = MakeClient("client-old");
  old_client.secret_expires_at = kNow + 1000;  // expired at `now` exactly
  RegisteredClient live_client = MakeClient("client-live");
  live_client.secret_expires_at = kNow + 1001;
  RegisteredClient forever = MakeClient("client-forever");
  forever.secret_expires_at = 0;
  for (const RegisteredClient& client : {old_client, live_client, forever}) {
    ASSERT_THAT(store_->CreateClient(client), IsOk());
  }
  ASSERT_THAT(store_->CreateDeviceAuthorization(MakeDevice("device-old", "user-code-1")), IsOk());
  ASSERT_THAT(
      store_->CreateDeviceAuthorization(MakeDevice("device-live", "user-code-2", kNow + 500)),
      IsOk());

  EXPECT_THAT(store_->PurgeExpired(kNow + 1000, 100), Purged(2));
  EXPECT_THAT(store_->GetClient("client-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("client-old")));
  EXPECT_THAT(store_->GetClient("client-live"), IsOk());
  EXPECT_THAT(store_->GetClient("client-forever"), IsOk());
  EXPECT_THAT(store_->GetDeviceAuthorization("device-old"),
              StatusIs(StatusCode::kNotFound, HasSubstr("device authorization")));
  EXPECT_THAT(store_->GetDeviceAuthorization("device-live"), IsOk());
  EXPECT_THAT(store_->PurgeExpired(kNow + 1000, 100), Purged(0));
}

TEST_P(StoreConformanceTest, PurgeExpiredClientsAndDeviceAuthorizationsInBatches) {
  for (int i = 0; i < 3; ++i) {
    RegisteredClient client = MakeClient("client-" + std::to_string(i));
    client.secret_expires_at = kNow;
    ASSERT_THAT(store_->CreateClient(client), IsOk());
    ASSERT_THAT(store_->CreateDeviceAuthorization(
                    MakeDevice("device-" + std::to_string(i), "user-code-" + std::to_string(i))),
                IsOk());
  }
  const int64_t later = kNow + kDeviceLifetime;
  EXPECT_THAT(store_->PurgeExpired(later, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(later, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(later, 2), Purged(2, /*finished=*/false));
  EXPECT_THAT(store_->PurgeExpired(later, 2), Purged(0));
  EXPECT_THAT(store_->CountLiveClients(0), IsOkAndHolds(0));
}

// --- the OpenID Connect nonce of authorization codes ---

TEST_P(StoreConformanceTest, AuthorizationCodeKeepsItsNonce) {
  AuthorizationCode with = MakeCode("code-1", "user-1");
  with.nonce = "n-0S6_WzA2Mj";
  const AuthorizationCode without = MakeCode("code-2", "user-1");
  ASSERT_THAT(store_->CreateAuthorizationCode(with), IsOk());
  ASSERT_THAT(store_->CreateAuthorizationCode(without), IsOk());
  EXPECT_THAT(store_->GetAuthorizationCode("code-1"), IsOkAndHolds(Eq(with)));
  auto read = store_->GetAuthorizationCode("code-2");
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->nonce, "");
  // Redemption leaves it in place for the ID token.
  ASSERT_THAT(
      store_->RedeemAuthorizationCode("code-1", kNow + 1, MakeFamily("fam-1"), std::nullopt),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_EQ(store_->GetAuthorizationCode("code-1")->nonce, "n-0S6_WzA2Mj");
}

}  // namespace
}  // namespace ts::storage::conformance
