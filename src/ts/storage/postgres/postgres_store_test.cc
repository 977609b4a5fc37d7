#include "ts/storage/postgres/postgres_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test/common/concurrently.h"
#include "test/common/postgres_server.h"
#include "test/common/status_matchers.h"
#include "ts/common/log.h"
#include "ts/common/metrics.h"
#include "ts/storage/conformance/conformance_test.h"
#include "ts/storage/postgres/group_commit_writer.h"
#include "ts/storage/postgres/migrations.h"
#include "ts/storage/postgres/postgres_internal.h"

namespace ts::storage {
namespace {

using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::RunConcurrently;
using ::ts::testing::StatusIs;

constexpr int64_t kNow = 1'700'000'000;

// One server for the whole binary (CTest runs it as one test, label `postgres`); each test case
// gets its own database.
::ts::testing::PostgresServer* server = nullptr;

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    server = new ::ts::testing::PostgresServer();
    const std::string error = server->Start();
    ASSERT_EQ(error, "") << "cannot start PostgreSQL for the tests";
  }
  void TearDown() override {
    delete server;  // stops the server and removes its directory, whatever the tests did
    server = nullptr;
  }
};
const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

// Runs SQL as the superuser on `database`; returns the first column of the first row ("" if
// none) and fails the test on error.
std::string AdminQuery(const std::string& sql, const std::string& database = "postgres") {
  PGconn* conn = PQconnectdb(server->Url(database).c_str());
  std::string value;
  if (PQstatus(conn) != CONNECTION_OK) {
    ADD_FAILURE() << PQerrorMessage(conn);
  } else {
    PGresult* r = PQexec(conn, sql.c_str());
    const ExecStatusType status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    } else if (PQntuples(r) > 0) {
      value = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
  }
  PQfinish(conn);
  return value;
}

// A fresh database per call; dropped when the last reference to the store goes.
std::string NewDatabase() {
  static std::atomic<int> counter{0};
  const std::string name = "ts_test_" + std::to_string(++counter);
  AdminQuery("CREATE DATABASE " + name);
  return name;
}

struct TempStore {
  std::string database;
  std::shared_ptr<PostgresStore> store;
  ~TempStore() {
    store.reset();
    if (server != nullptr) AdminQuery("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
  }
};

StorePtr MakeFreshPostgresStore() {
  if (server == nullptr) return nullptr;
  auto holder = std::make_shared<TempStore>();
  holder->database = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(holder->database));
  if (!opened.ok()) {
    ADD_FAILURE() << opened.status();
    return nullptr;
  }
  holder->store = *opened;
  return StorePtr(holder, holder->store.get());
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreConformanceTest,
                         ::testing::Values(StoreFactory(MakeFreshPostgresStore)));

AuthorizationCode Code(const std::string& hash) {
  AuthorizationCode c;
  c.code_hash = hash;
  c.application_arn = "arn:aws:sso::123456789012:application/ssoins-1/apl-1";
  c.user_id = "user-1";
  c.redirect_uri = "https://app.example/cb";
  c.code_challenge = "challenge";
  c.scopes = {"openid"};
  c.created_at = kNow;
  c.expires_at = kNow + 300;
  return c;
}

TokenFamily Family(const std::string& id) {
  TokenFamily f;
  f.family_id = id;
  f.application_arn = "arn:aws:sso::123456789012:application/ssoins-1/apl-1";
  f.user_id = "user-1";
  f.scopes = {"openid"};
  f.grant_type = "authorization_code";
  f.created_at = kNow;
  f.expires_at = kNow + 86400;
  return f;
}

RefreshToken Refresh(const std::string& hash, const std::string& family) {
  RefreshToken t;
  t.token_hash = hash;
  t.family_id = family;
  t.scopes = {"openid"};
  t.created_at = kNow;
  t.expires_at = kNow + 86400;
  return t;
}

std::string MigrationCount() {
  return std::to_string(postgres_internal::PostgresMigrations().size());
}

TEST(PostgresStoreTest, IsPostgresUrlTellsUrlsFromPaths) {
  EXPECT_TRUE(IsPostgresUrl("postgresql://u@h/db"));
  EXPECT_TRUE(IsPostgresUrl("postgres://u@h:5432/db?sslmode=require"));
  EXPECT_FALSE(IsPostgresUrl("./var/tessera.db"));
  EXPECT_FALSE(IsPostgresUrl("postgresql.db"));
}

TEST(PostgresStoreTest, OpenRejectsNonUrlAndUnreachableServer) {
  EXPECT_THAT(PostgresStore::Open("./var/tessera.db"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("postgresql://")));
  // Port 1 on loopback: nothing listens there.
  PostgresStoreOptions options;
  options.connect_timeout_seconds = 2;
  EXPECT_THAT(PostgresStore::Open("postgresql://postgres@127.0.0.1:1/postgres", options),
              StatusIs(StatusCode::kUnavailable, HasSubstr("cannot connect to PostgreSQL")));
}

TEST(PostgresStoreTest, MigrationsAreRecordedAndReopeningIsANoOp) {
  const std::string db = NewDatabase();
  ASSERT_THAT(PostgresStore::Open(server->Url(db)), IsOk());
  ASSERT_THAT(PostgresStore::Open(server->Url(db)), IsOk());
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM schema_migrations", db), MigrationCount());
  EXPECT_EQ(AdminQuery("SELECT name FROM schema_migrations WHERE version = 1", db),
            "V001__init.sql");
  EXPECT_EQ(AdminQuery("SELECT name FROM schema_migrations WHERE version = 2", db),
            "V002__admin_plane.sql");
}

TEST(PostgresStoreTest, NewerSchemaIsRefused) {
  const std::string db = NewDatabase();
  ASSERT_THAT(PostgresStore::Open(server->Url(db)), IsOk());
  AdminQuery("INSERT INTO schema_migrations VALUES (999, 'V999__future.sql', 0)", db);
  EXPECT_THAT(PostgresStore::Open(server->Url(db)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("newer than this binary")));
}

TEST(PostgresStoreTest, NodesStartingTogetherMigrateOnce) {
  const std::string db = NewDatabase();
  constexpr int kNodes = 4;
  std::vector<Status> results(kNodes);
  RunConcurrently(kNodes,
                  [&](int i) { results[i] = PostgresStore::Open(server->Url(db)).status(); });
  for (const Status& s : results) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM schema_migrations", db), MigrationCount());
}

// Two stores on one database stand for two Tessera nodes: the database settles their race.
TEST(PostgresStoreTest, TwoNodesRedeemingOneCodeHaveOneWinner) {
  const std::string db = NewDatabase();
  auto node1 = PostgresStore::Open(server->Url(db));
  auto node2 = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(node1, IsOk());
  ASSERT_THAT(node2, IsOk());
  ASSERT_THAT((*node1)->CreateAuthorizationCode(Code("code-1")), IsOk());
  constexpr int kPerNode = 8;
  std::vector<StatusOr<RedeemOutcome>> results(2 * kPerNode, InternalError("not run"));
  RunConcurrently(2 * kPerNode, [&](int i) {
    PostgresStore& node = i % 2 == 0 ? **node1 : **node2;
    const std::string family = "fam-" + std::to_string(i);
    results[i] = node.RedeemAuthorizationCode("code-1", kNow + 1, Family(family),
                                              Refresh("rt-" + std::to_string(i), family));
  });
  int redeemed = 0;
  for (const auto& r : results) {
    ASSERT_THAT(r, IsOk());
    if (*r == RedeemOutcome::kRedeemed) ++redeemed;
  }
  EXPECT_EQ(redeemed, 1);
  auto code = (*node2)->GetAuthorizationCode("code-1");
  ASSERT_THAT(code, IsOk());
  auto family = (*node1)->GetFamily(code->family_id);
  ASSERT_THAT(family, IsOk());
  EXPECT_NE(family->revoked_at, 0) << "the losers' reuse must revoke the winner's family";
}

// The sign-in throttle across nodes: 32 guesses for one user, half through each node, with a
// limit of 5. The reservation is one statement on the key's row lock: exactly 5 pass.
TEST(PostgresStoreTest, TwoNodesReservingSignInAttemptsShareOneLimit) {
  const std::string db = NewDatabase();
  auto node1 = PostgresStore::Open(server->Url(db));
  auto node2 = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(node1, IsOk());
  ASSERT_THAT(node2, IsOk());
  constexpr int kGuesses = 32;
  constexpr int kLimit = 5;
  std::atomic<int> reserved{0};
  RunConcurrently(kGuesses, [&](int i) {
    PostgresStore& node = i % 2 == 0 ? **node1 : **node2;
    auto attempt = node.ReserveLoginAttempt("user-key", kNow, 900, kLimit);
    ASSERT_THAT(attempt, IsOk());
    if (attempt->reserved) reserved.fetch_add(1);
  });
  EXPECT_EQ(reserved.load(), kLimit);
  auto stored = (*node2)->GetLoginFailures("user-key");
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->failures, kLimit);
}

// The token endpoint's writes cost one round trip each once their statement is prepared on the
// connection (the first use of each pays one more, to prepare).
TEST(PostgresStoreTest, TokenEndpointWritesAreOneRoundTripEach) {
  PostgresStoreOptions options;
  options.max_connections = 1;  // one connection, so the warm-up prepared what is measured
  auto store = PostgresStore::Open(server->Url(NewDatabase()), options);
  ASSERT_THAT(store, IsOk());
  PostgresStore& s = **store;
  // Warm-up: prepare each statement once.
  ASSERT_THAT(s.CreateAuthorizationCode(Code("code-0")), IsOk());
  ASSERT_THAT(
      s.RedeemAuthorizationCode("code-0", kNow + 1, Family("fam-0"), Refresh("rt-0", "fam-0")),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  ASSERT_THAT(s.RotateRefreshToken("rt-0", kNow + 2, Refresh("rt-0b", "fam-0")),
              IsOkAndHolds(RotateOutcome::kRotated));
  ASSERT_THAT(
      s.CreateFamilyForAssertion(Family("fam-a0"), Refresh("rt-a0", "fam-a0"), "jti-0", kNow + 60),
      IsOk());
  ASSERT_THAT(s.CreateAuthorizationCode(Code("code-1")), IsOk());

  int64_t before = s.RoundTrips();
  ASSERT_THAT(
      s.RedeemAuthorizationCode("code-1", kNow + 1, Family("fam-1"), Refresh("rt-1", "fam-1")),
      IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  before = s.RoundTrips();
  ASSERT_THAT(s.RotateRefreshToken("rt-1", kNow + 2, Refresh("rt-2", "fam-1")),
              IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  before = s.RoundTrips();
  ASSERT_THAT(
      s.CreateFamilyForAssertion(Family("fam-a1"), Refresh("rt-a1", "fam-a1"), "jti-1", kNow + 60),
      IsOk());
  EXPECT_EQ(s.RoundTrips() - before, 1);
  // A replayed assertion and a reused token are refused in one round trip too.
  before = s.RoundTrips();
  EXPECT_THAT(s.CreateFamilyForAssertion(Family("fam-a2"), std::nullopt, "jti-1", kNow + 60),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion")));
  EXPECT_THAT(s.RotateRefreshToken("rt-1", kNow + 3, Refresh("rt-3", "fam-1")),
              IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  EXPECT_EQ(s.RoundTrips() - before, 2);
}

// The reads a grant makes before its write: one round trip each, prepared once.
TEST(PostgresStoreTest, TokenEndpointReadsAreOneRoundTripEach) {
  PostgresStoreOptions options;
  options.max_connections = 1;  // one connection, so the warm-up prepared what is measured
  auto store = PostgresStore::Open(server->Url(NewDatabase()), options);
  ASSERT_THAT(store, IsOk());
  PostgresStore& s = **store;
  ASSERT_THAT(s.CreateAuthorizationCode(Code("code-1")), IsOk());
  ASSERT_THAT(s.CreateFamily(Family("fam-1"), std::nullopt), IsOk());
  ASSERT_THAT(s.GetCodeToRedeem("code-1"), IsOk());  // warm-up: prepare each statement once
  ASSERT_THAT(s.GetExchangeSubject("jti-0", "fam-1", "user-1", "arn:app"), IsOk());

  int64_t before = s.RoundTrips();
  ASSERT_THAT(s.GetCodeToRedeem("code-1"), IsOk());
  EXPECT_EQ(s.RoundTrips() - before, 1);
  before = s.RoundTrips();
  auto subject = s.GetExchangeSubject("jti-1", "fam-1", "user-1", "arn:app");
  ASSERT_THAT(subject, IsOk());
  EXPECT_TRUE(subject->family.has_value());
  EXPECT_EQ(s.RoundTrips() - before, 1);
}

// Connections killed by the server (what a restart or failover does to them) are replaced
// without restarting the store: nothing had been sent on them, so the calls succeed.
TEST(PostgresStoreTest, RecoversFromTerminatedConnections) {
  const std::string db = NewDatabase();
  auto store = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->PutMeta("k", "v1"), IsOk());
  const std::string others =
      "FROM pg_stat_activity WHERE datname = '" + db + "' AND pid <> pg_backend_pid()";
  AdminQuery("SELECT count(pg_terminate_backend(pid)) " + others);
  // Termination is asynchronous: wait until the server has closed them.
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) " + others) != "0"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT((*store)->PutMeta("k", "v2"), IsOk());
  EXPECT_THAT((*store)->GetMeta("k"), IsOkAndHolds(std::string("v2")));
}

// While the server is down every call is Unavailable (the HTTP layer's InternalServerException,
// which SDKs retry); once it is back the same store works again and nothing acknowledged is lost.
TEST(PostgresStoreTest, ServerRestartIsUnavailableThenRecovers) {
  const std::string db = NewDatabase();
  PostgresStoreOptions options;
  options.connect_timeout_seconds = 2;
  auto store = PostgresStore::Open(server->Url(db), options);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->CreateAuthorizationCode(Code("code-1")), IsOk());
  ASSERT_EQ(server->Pause("immediate"), "");
  EXPECT_THAT((*store)->GetAuthorizationCode("code-1"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("PostgreSQL")));
  EXPECT_THAT((*store)->RedeemAuthorizationCode("code-1", kNow + 1, Family("fam-1"),
                                                Refresh("rt-1", "fam-1")),
              StatusIs(StatusCode::kUnavailable, HasSubstr("PostgreSQL")));
  ASSERT_EQ(server->Resume(), "");
  EXPECT_THAT((*store)->RedeemAuthorizationCode("code-1", kNow + 1, Family("fam-1"),
                                                Refresh("rt-1", "fam-1")),
              IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_THAT((*store)->GetRefreshToken("rt-1"), IsOk());
}

TEST(PostgresStoreTest, PoolExhaustionIsUnavailableAfterTheTimeout) {
  const std::string db = NewDatabase();
  PostgresStoreOptions options;
  options.max_connections = 1;
  options.acquire_timeout = std::chrono::milliseconds(200);
  auto store = PostgresStore::Open(server->Url(db), options);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->PutMeta("lock", "x"), IsOk());
  // Lock the meta row from outside so PutMeta blocks while holding the store's one connection.
  PGconn* outside = PQconnectdb(server->Url(db).c_str());
  ASSERT_EQ(PQstatus(outside), CONNECTION_OK);
  PQclear(PQexec(outside, "BEGIN; SELECT * FROM meta WHERE key = 'lock' FOR UPDATE"));
  std::thread blocked([&] { (*store)->PutMeta("lock", "y").IgnoreError(); });
  // Wait until the blocked statement is on the server, then a second caller finds no connection.
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        db + "' AND wait_event_type = 'Lock'") == "0";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT((*store)->GetMeta("lock"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("no PostgreSQL connection")));
  PQclear(PQexec(outside, "COMMIT"));
  PQfinish(outside);
  blocked.join();
  EXPECT_THAT((*store)->GetMeta("lock"), IsOkAndHolds(std::string("y")));
}

// --- the group-commit writer (group_commit_writer.h) ---

using postgres_internal::Connection;
using postgres_internal::GroupCommitWriter;
using postgres_internal::MakeParams;
using postgres_internal::Params;
using postgres_internal::Result;

// A writer on `db` with a table `t (k TEXT PRIMARY KEY)` to write to; counts round trips.
struct WriterFixture {
  explicit WriterFixture(int max_batch = 256) : db(NewDatabase()) {
    AdminQuery("CREATE TABLE t (k TEXT PRIMARY KEY)", db);
    GroupCommitWriter::Options options;
    options.max_batch = max_batch;
    writer = std::make_unique<GroupCommitWriter>(
        [this] { return Connection::Open(server->Url(db), PostgresStoreOptions(), &round_trips); },
        options);
  }
  std::string Count() { return AdminQuery("SELECT count(*) FROM t", db); }
  // Occupies the writer with a batch that takes `ms` (a statement sleeping on the server), so
  // what is queued meanwhile forms the next batch.
  void Occupy(int ms) {
    const int64_t before = writer->batches();
    writer->RunAsync("SELECT pg_sleep($1::float8 / 1000)", MakeParams(ms),
                     [](StatusOr<Result>, const std::string&, const std::string&) {});
    while (writer->batches() == before) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::string db;
  std::atomic<int64_t> round_trips{0};
  std::unique_ptr<GroupCommitWriter> writer;
};

struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  std::vector<Status> statuses;
  std::vector<std::string> states;
  GroupCommitWriter::Done Collect(size_t i) {
    return [this, i](StatusOr<Result> r, const std::string& state, const std::string&) {
      std::lock_guard lock(mu);
      statuses[i] = r.status();
      states[i] = state;
      ++calls;
      cv.notify_all();
    };
  }
  explicit Outcome(size_t n) : statuses(n, InternalError("not called")), states(n) {}
  bool WaitFor(int n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return calls >= n; });
  }
};

constexpr std::string_view kInsert = "INSERT INTO t (k) VALUES ($1)";

// Many statements queued together share one pipelined transaction: one round trip, one batch.
TEST(PostgresGroupCommitTest, ABatchIsOneRoundTrip) {
  WriterFixture f;
  ASSERT_THAT(f.writer->Run(kInsert, MakeParams(std::string("warm"))), IsOk());  // prepares
  // Counted before the occupying batch: its round trip may be counted after batches() moves.
  const int64_t trips = f.round_trips.load();
  f.Occupy(300);
  const int64_t batches = f.writer->batches();
  constexpr int kWrites = 20;
  Outcome out(kWrites);
  for (int i = 0; i < kWrites; ++i) {
    f.writer->RunAsync(kInsert, MakeParams("k" + std::to_string(i)), out.Collect(i));
  }
  ASSERT_TRUE(out.WaitFor(kWrites, std::chrono::seconds(10)));
  for (const Status& s : out.statuses) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(f.writer->batches() - batches, 1);
  EXPECT_EQ(f.round_trips.load() - trips, 2);  // the occupying batch and the twenty
  EXPECT_EQ(f.Count(), "21");
}

// Each completion runs under the request id of the thread that queued the write (log.h), also
// when the batch fails and the writer retries each statement on its own: what it logs names its
// request.
TEST(PostgresGroupCommitTest, CompletionsRunUnderTheRequestIdOfTheirCaller) {
  WriterFixture f;
  ASSERT_THAT(f.writer->Run(kInsert, MakeParams(std::string("taken"))), IsOk());
  f.Occupy(300);
  const std::vector<std::string> keys = {"x", "taken", "y"};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen(keys.size());
  size_t calls = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    log::ScopedRequestId scope("req-" + std::to_string(i));
    f.writer->RunAsync(kInsert, MakeParams(keys[i]),
                       [&, i](StatusOr<Result>, const std::string&, const std::string&) {
                         std::lock_guard lock(mu);
                         seen[i] = std::string(log::CurrentRequestId().view());
                         ++calls;
                         cv.notify_all();
                       });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return calls == keys.size(); }));
  EXPECT_THAT(seen, ::testing::ElementsAre("req-0", "req-1", "req-2"));
}

// One failing statement aborts the shared transaction; the writer then runs each on its own,
// so only that one fails (with its own SQLSTATE) and the others are committed.
TEST(PostgresGroupCommitTest, AFailingWriteDoesNotFailTheOthers) {
  WriterFixture f;
  ASSERT_THAT(f.writer->Run(kInsert, MakeParams(std::string("taken"))), IsOk());
  f.Occupy(300);
  Outcome out(5);
  const std::vector<std::string> keys = {"a", "b", "taken", "c", "d"};
  for (size_t i = 0; i < keys.size(); ++i) {
    f.writer->RunAsync(kInsert, MakeParams(keys[i]), out.Collect(i));
  }
  ASSERT_TRUE(out.WaitFor(5, std::chrono::seconds(10)));
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i] == "taken") {
      EXPECT_THAT(out.statuses[i], StatusIs(StatusCode::kInternal, HasSubstr("duplicate key")));
      EXPECT_EQ(out.states[i], "23505");
    } else {
      EXPECT_THAT(out.statuses[i], IsOk()) << keys[i];
      EXPECT_EQ(out.states[i], "");
    }
  }
  EXPECT_EQ(f.Count(), "5");
  // The connection is usable afterwards (no transaction left open).
  EXPECT_THAT(f.writer->Run(kInsert, MakeParams(std::string("e"))), IsOk());
}

// A write is acknowledged only once its batch committed: while one statement of the batch
// waits for a row lock held outside, no completion has run and no other session sees the
// batch's earlier writes.
TEST(PostgresGroupCommitTest, NothingIsAcknowledgedBeforeTheCommit) {
  WriterFixture f;
  ASSERT_THAT(f.writer->Run(kInsert, MakeParams(std::string("locked"))), IsOk());
  PGconn* outside = PQconnectdb(server->Url(f.db).c_str());
  ASSERT_EQ(PQstatus(outside), CONNECTION_OK);
  PQclear(PQexec(outside, "BEGIN; SELECT * FROM t WHERE k = 'locked' FOR UPDATE"));
  f.Occupy(200);
  Outcome out(2);
  f.writer->RunAsync(kInsert, MakeParams(std::string("first")), out.Collect(0));
  f.writer->RunAsync("UPDATE t SET k = 'unlocked' WHERE k = $1", MakeParams(std::string("locked")),
                     out.Collect(1));
  // Wait until the batch's UPDATE is waiting for the lock.
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        f.db + "' AND wait_event_type = 'Lock'") == "0";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE(out.WaitFor(1, std::chrono::milliseconds(100)));
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM t WHERE k = 'first'", f.db), "0");
  PQclear(PQexec(outside, "COMMIT"));
  PQfinish(outside);
  ASSERT_TRUE(out.WaitFor(2, std::chrono::seconds(10)));
  EXPECT_THAT(out.statuses[0], IsOk());
  EXPECT_THAT(out.statuses[1], IsOk());
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM t WHERE k IN ('first', 'unlocked')", f.db), "2");
}

// Destroying the writer first writes and acknowledges everything queued.
TEST(PostgresGroupCommitTest, ShutdownFlushesTheQueue) {
  WriterFixture f(/*max_batch=*/7);  // several batches
  constexpr int kWrites = 50;
  Outcome out(kWrites);
  f.Occupy(100);
  for (int i = 0; i < kWrites; ++i) {
    f.writer->RunAsync(kInsert, MakeParams("k" + std::to_string(i)), out.Collect(i));
  }
  f.writer.reset();
  EXPECT_EQ(out.calls, kWrites);
  for (const Status& s : out.statuses) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(f.Count(), std::to_string(kWrites));
}

// The store's asynchronous token-endpoint writes go through the writer: queued together, ten
// rotations cost one round trip between them, with the outcomes of their statements.
TEST(PostgresGroupCommitTest, AsyncRotationsShareOneRoundTrip) {
  PostgresStoreOptions options;
  auto opened = PostgresStore::Open(server->Url(NewDatabase()), options);
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  constexpr int kChains = 10;
  for (int i = 0; i < kChains; ++i) {
    const std::string fam = "fam-" + std::to_string(i);
    ASSERT_THAT(s.CreateFamily(Family(fam), Refresh("rt-" + std::to_string(i), fam)), IsOk());
  }
  auto rotate_all = [&](const std::string& from, const std::string& to) {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    std::vector<StatusOr<RotateOutcome>> outcomes(kChains, InternalError("not called"));
    for (int i = 0; i < kChains; ++i) {
      const std::string fam = "fam-" + std::to_string(i);
      s.RotateRefreshTokenAsync(from + std::to_string(i), kNow + 1,
                                Refresh(to + std::to_string(i), fam),
                                [&, i](StatusOr<RotateOutcome> r) {
                                  std::lock_guard lock(mu);
                                  outcomes[i] = std::move(r);
                                  ++done;
                                  cv.notify_all();
                                });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == kChains; });
    return outcomes;
  };
  rotate_all("rt-", "warm-");  // prepares the statement on the writer's connection
  // Queued while nothing else runs, the ten may still split over a few batches; what is
  // checked is that a batch costs one round trip whatever its size.
  const int64_t before = s.RoundTrips();
  auto outcomes = rotate_all("warm-", "next-");
  for (const auto& o : outcomes) EXPECT_THAT(o, IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_LE(s.RoundTrips() - before, kChains);
  EXPECT_GE(s.RoundTrips() - before, 1);
  // Reuse is an outcome, not an error: it does not abort the batch it shares.
  outcomes = rotate_all("warm-", "again-");
  for (const auto& o : outcomes) EXPECT_THAT(o, IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  EXPECT_THAT(s.GetRefreshToken("next-3"), IsOk());
}

// The token endpoint's jwt-bearer write carries its CreateTokenWithIAM event (audit.h). It used
// to leave the writer for a transaction of its own (BEGIN, the statement, the event, COMMIT: four
// round trips on a pooled connection); the event now rides in the pipelined statement: one round
// trip, the event committed with the family, none for a replayed assertion.
TEST(PostgresGroupCommitTest, AuditedAssertionIsOneRoundTripInTheWriter) {
  auto opened = PostgresStore::Open(server->Url(NewDatabase()));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  auto create = [&](const std::string& fam, const std::string& jti) {
    AuditEvent event;
    event.event_source = "sso-oauth.amazonaws.com";
    event.event_name = "CreateTokenWithIAM";
    event.principal_id = "user-1";
    AuditScope scope(std::move(event));
    std::mutex mu;
    std::condition_variable cv;
    std::optional<Status> result;
    s.CreateFamilyForAssertionAsync(Family(fam), Refresh("rt-" + fam, fam), jti, kNow + 60,
                                    [&](Status r) {
                                      std::lock_guard lock(mu);
                                      result = std::move(r);
                                      cv.notify_all();
                                    });
    // Taken when queued, as audit.h says of asynchronous writes.
    EXPECT_EQ(AuditScope::Current(), nullptr);
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return result.has_value(); });
    return *result;
  };
  ASSERT_THAT(create("fam-warm", "jti-warm"), IsOk());  // prepares it on the writer's connection
  AuditQuery everything;
  everything.event_name = "CreateTokenWithIAM";
  ASSERT_THAT(s.ListAuditEvents(everything), IsOk());

  int64_t before = s.RoundTrips();
  ASSERT_THAT(create("fam-1", "jti-1"), IsOk());
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_THAT(s.GetFamily("fam-1"), IsOk());
  auto events = s.ListAuditEvents(everything);
  ASSERT_THAT(events, IsOk());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->back().principal_id, "user-1");
  EXPECT_THAT(events->back().json, HasSubstr("\"eventName\":\"CreateTokenWithIAM\""));

  // A replayed assertion is refused in the same one round trip and records nothing.
  before = s.RoundTrips();
  EXPECT_THAT(create("fam-2", "jti-1"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion")));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_THAT(s.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  events = s.ListAuditEvents(everything);
  ASSERT_THAT(events, IsOk());
  EXPECT_EQ(events->size(), 2u);
}

// Two nodes, each with its writer, rotating one token concurrently through the asynchronous
// path: exactly one rotation wins across both nodes' batches.
TEST(PostgresGroupCommitTest, TwoNodesAsyncRotationsHaveOneWinner) {
  const std::string db = NewDatabase();
  auto node1 = PostgresStore::Open(server->Url(db));
  auto node2 = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(node1, IsOk());
  ASSERT_THAT(node2, IsOk());
  ASSERT_THAT((*node1)->CreateFamily(Family("fam"), Refresh("rt", "fam")), IsOk());
  constexpr int kPerNode = 8;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  int rotated = 0;
  int already = 0;
  for (int i = 0; i < 2 * kPerNode; ++i) {
    PostgresStore& node = i % 2 == 0 ? **node1 : **node2;
    node.RotateRefreshTokenAsync("rt", kNow + 1, Refresh("next-" + std::to_string(i), "fam"),
                                 [&](StatusOr<RotateOutcome> r) {
                                   std::lock_guard lock(mu);
                                   if (r.ok() && *r == RotateOutcome::kRotated) ++rotated;
                                   if (r.ok() && *r == RotateOutcome::kAlreadyRotated) ++already;
                                   ++done;
                                   cv.notify_all();
                                 });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(20), [&] { return done == 2 * kPerNode; }));
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, 2 * kPerNode - 1);
}

// Waits until a session of `db` waits for a lock (at most 5 s).
void AwaitLockWait(const std::string& db) {
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        db + "' AND wait_event_type = 'Lock'") == "0";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Collects the outcomes of `...Async` calls, each call's at its index: Rotations for
// RotateDone, Writes for WriteDone.
template <typename Result>
struct Completions {
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  std::vector<Result> outcomes;
  explicit Completions(size_t n) : outcomes(n, InternalError("not called")) {}
  std::function<void(Result)> Collect(size_t i) {
    return [this, i](Result r) {
      std::lock_guard lock(mu);
      outcomes[i] = std::move(r);
      ++calls;
      cv.notify_all();
    };
  }
  bool WaitFor(int n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return calls >= n; });
  }
};
using Rotations = Completions<StatusOr<RotateOutcome>>;
using Writes = Completions<Status>;

// Keeps a store's writer busy until Release(): its rotation of rt-x (in fam-x, created here)
// waits for a row lock that a connection of the test's own holds, so whatever is queued
// meanwhile goes in one later batch.
class OccupiedWriter {
 public:
  OccupiedWriter(PostgresStore& s, const std::string& db) : blocker_(1) {
    EXPECT_THAT(s.CreateFamily(Family("fam-x"), Refresh("rt-x", "fam-x")), IsOk());
    outside_ = PQconnectdb(server->Url(db).c_str());
    EXPECT_EQ(PQstatus(outside_), CONNECTION_OK);
    PQclear(PQexec(outside_,
                   "BEGIN; SELECT * FROM refresh_tokens WHERE token_hash = 'rt-x' FOR UPDATE"));
    s.RotateRefreshTokenAsync("rt-x", kNow + 2, Refresh("rt-x2", "fam-x"), blocker_.Collect(0));
    AwaitLockWait(db);
  }
  ~OccupiedWriter() {
    if (outside_ != nullptr) PQfinish(outside_);
  }
  OccupiedWriter(const OccupiedWriter&) = delete;
  OccupiedWriter& operator=(const OccupiedWriter&) = delete;

  // Lets the rotation through; true once it is answered.
  bool Release() {
    PQclear(PQexec(outside_, "COMMIT"));
    PQfinish(outside_);
    outside_ = nullptr;
    return blocker_.WaitFor(1);
  }
  const StatusOr<RotateOutcome>& rotation() const { return blocker_.outcomes[0]; }

 private:
  PGconn* outside_ = nullptr;
  Rotations blocker_;
};

// The token endpoint's event (CreateTokenWithIAM), opened on this thread as TokenService does.
AuditEvent TokenEndpointEvent(const std::string& user_id) {
  AuditEvent event;
  event.event_source = "sso-oauth.amazonaws.com";
  event.event_name = "CreateTokenWithIAM";
  event.principal_id = user_id;
  return event;
}

// An `...Async` call under the token endpoint's audit scope, waited for; `on_writer` tells
// whether its completion ran on another thread (the writer's) than the caller's.
template <typename Result, typename Call>
Result AuditedAsync(Call call, bool* on_writer = nullptr) {
  Completions<Result> out(1);
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id completed_on;
  {
    AuditScope scope(TokenEndpointEvent("user-1"));
    call([&, collect = out.Collect(0)](Result r) {
      completed_on = std::this_thread::get_id();
      collect(std::move(r));
    });
    // Taken when queued, as audit.h says of asynchronous writes.
    EXPECT_EQ(AuditScope::Current(), nullptr);
  }
  EXPECT_TRUE(out.WaitFor(1));
  std::lock_guard lock(out.mu);
  if (on_writer != nullptr) *on_writer = completed_on != caller;
  return out.outcomes[0];
}

size_t TokenEndpointEvents(PostgresStore& s) {
  AuditQuery query;
  query.event_name = "CreateTokenWithIAM";
  auto events = s.ListAuditEvents(query);
  EXPECT_THAT(events, IsOk());
  return events.ok() ? events->size() : 0;
}

// The token endpoint's authorization_code write always carries its event. It used to leave the
// writer for a pooled BEGIN / statement / event / COMMIT on the calling thread; the event now
// rides in the pipelined statement (kAuditedRedeemSql): one round trip in the writer, the event
// committed with the family, none for a reused code, whose refusal still revokes the family its
// first use created and what was exchanged from it.
TEST(PostgresGroupCommitTest, AuditedRedemptionIsOneRoundTripInTheWriter) {
  auto opened = PostgresStore::Open(server->Url(NewDatabase()));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  auto redeem = [&](const std::string& code, const std::string& fam, bool* on_writer = nullptr) {
    return AuditedAsync<StatusOr<RedeemOutcome>>(
        [&](GrantStore::RedeemDone done) {
          s.RedeemAuthorizationCodeAsync(code, kNow + 1, Family(fam), Refresh("rt-" + fam, fam),
                                         std::move(done));
        },
        on_writer);
  };
  ASSERT_THAT(s.CreateAuthorizationCode(Code("code-warm")), IsOk());
  ASSERT_THAT(s.CreateAuthorizationCode(Code("code-1")), IsOk());
  // Prepares the statement on the writer's connection.
  ASSERT_THAT(redeem("code-warm", "fam-warm"), IsOkAndHolds(RedeemOutcome::kRedeemed));
  ASSERT_EQ(TokenEndpointEvents(s), 1u);

  bool on_writer = false;
  int64_t before = s.RoundTrips();
  ASSERT_THAT(redeem("code-1", "fam-1", &on_writer), IsOkAndHolds(RedeemOutcome::kRedeemed));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_TRUE(on_writer);
  auto family = s.GetFamily("fam-1");
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->revoked_at, 0);
  EXPECT_THAT(s.GetRefreshToken("rt-fam-1"), IsOk());
  EXPECT_THAT(s.GetAuthorizationCode("code-1"), IsOk());
  EXPECT_EQ(s.GetAuthorizationCode("code-1")->family_id, "fam-1");
  AuditQuery everything;
  everything.event_name = "CreateTokenWithIAM";
  auto events = s.ListAuditEvents(everything);
  ASSERT_THAT(events, IsOk());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ(events->back().principal_id, "user-1");
  EXPECT_THAT(events->back().json, HasSubstr("\"eventName\":\"CreateTokenWithIAM\""));

  // The code again: refused as reuse, the first use's family and its exchanged child revoked,
  // nothing new written and no event.
  TokenFamily child = Family("fam-1-child");
  child.parent_family_id = "fam-1";
  ASSERT_THAT(s.CreateExchangedFamily(child, std::nullopt), IsOk());
  EXPECT_THAT(redeem("code-1", "fam-2"), IsOkAndHolds(RedeemOutcome::kAlreadyRedeemed));
  EXPECT_EQ(s.GetFamily("fam-1")->revoked_at, kNow + 1);
  EXPECT_EQ(s.GetFamily("fam-1-child")->revoked_at, kNow + 1);
  EXPECT_THAT(s.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
  EXPECT_EQ(TokenEndpointEvents(s), 2u);
  // An unknown code is the modeled NotFound, in one round trip, with no event.
  before = s.RoundTrips();
  EXPECT_THAT(redeem("code-unknown", "fam-3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("authorization code")));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_THAT(s.GetFamily("fam-3"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-3")));
  EXPECT_EQ(TokenEndpointEvents(s), 2u);
}

// Token exchange had no PostgreSQL form: the base class wrote the family (with its event, a
// pooled transaction), read the parent again and revoked the new family if the parent was
// revoked, leaving a revoked family and its event behind. Now one statement in the writer
// inserts the family, its token and its event only under a live parent: one round trip; a
// refused exchange writes nothing and records no event.
TEST(PostgresGroupCommitTest, AuditedExchangeIsOneRoundTripInTheWriter) {
  auto opened = PostgresStore::Open(server->Url(NewDatabase()));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  auto exchange = [&](const std::string& fam, const std::string& parent,
                      bool* on_writer = nullptr) {
    TokenFamily child = Family(fam);
    child.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
    child.parent_family_id = parent;
    return AuditedAsync<Status>(
        [&](GrantStore::WriteDone done) {
          s.CreateExchangedFamilyAsync(child, Refresh("rt-" + fam, fam), std::move(done));
        },
        on_writer);
  };
  ASSERT_THAT(s.CreateFamily(Family("parent"), std::nullopt), IsOk());
  ASSERT_THAT(exchange("fam-warm", "parent"), IsOk());  // prepares it on the writer's connection
  ASSERT_EQ(TokenEndpointEvents(s), 1u);

  bool on_writer = false;
  int64_t before = s.RoundTrips();
  ASSERT_THAT(exchange("fam-1", "parent", &on_writer), IsOk());
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_TRUE(on_writer);
  auto family = s.GetFamily("fam-1");
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->parent_family_id, "parent");
  EXPECT_EQ(family->revoked_at, 0);
  EXPECT_THAT(s.GetRefreshToken("rt-fam-1"), IsOk());
  EXPECT_EQ(TokenEndpointEvents(s), 2u);

  // Under a revoked parent, or an unknown one: refused in the same one round trip, nothing
  // written, no event.
  ASSERT_THAT(s.RevokeFamily("parent", kNow + 5), IsOk());
  before = s.RoundTrips();
  EXPECT_THAT(exchange("fam-2", "parent"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  EXPECT_EQ(s.RoundTrips() - before, 1);
  EXPECT_THAT(s.GetFamily("fam-2"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-2")));
  EXPECT_THAT(s.GetRefreshToken("rt-fam-2"), StatusIs(StatusCode::kNotFound, ::testing::_));
  EXPECT_THAT(exchange("fam-3", "no-such-parent"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  EXPECT_THAT(s.GetFamily("fam-3"), StatusIs(StatusCode::kNotFound, HasSubstr("fam-3")));
  EXPECT_EQ(TokenEndpointEvents(s), 2u);
  // A family id already taken: its modeled AlreadyExists, no event.
  ASSERT_THAT(s.CreateFamily(Family("parent-2"), std::nullopt), IsOk());
  EXPECT_THAT(exchange("fam-1", "parent-2"),
              StatusIs(StatusCode::kAlreadyExists, HasSubstr("fam-1")));
  EXPECT_EQ(TokenEndpointEvents(s), 2u);
}

// A revocation of the parent that is in flight when the exchange arrives: the exchange's read of
// the parent (FOR SHARE) waits for the revocation's commit and then sees it, so no live family
// is written under a revoked parent and nothing is acknowledged before.
TEST(PostgresGroupCommitTest, ExchangeWaitsForAnUncommittedRevocationOfItsParent) {
  const std::string db = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  ASSERT_THAT(s.CreateFamily(Family("parent"), std::nullopt), IsOk());
  PGconn* revoker = PQconnectdb(server->Url(db).c_str());
  ASSERT_EQ(PQstatus(revoker), CONNECTION_OK);
  PQclear(PQexec(revoker,
                 "BEGIN; UPDATE token_families SET revoked_at = 7 WHERE family_id = 'parent'"));
  TokenFamily child = Family("child");
  child.parent_family_id = "parent";
  Writes out(1);
  s.CreateExchangedFamilyAsync(child, std::nullopt, out.Collect(0));
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        db + "' AND wait_event_type = 'Lock'") == "0";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db +
                       "' AND wait_event_type = 'Lock'"),
            "1");
  {
    std::lock_guard lock(out.mu);
    EXPECT_EQ(out.calls, 0);
  }
  PQclear(PQexec(revoker, "COMMIT"));
  PQfinish(revoker);
  ASSERT_TRUE(out.WaitFor(1));
  EXPECT_THAT(out.outcomes[0],
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  EXPECT_THAT(s.GetFamily("child"), StatusIs(StatusCode::kNotFound, HasSubstr("child")));
}

// The other order: an exchange read the parent FOR SHARE and inserted its child, its batch not
// yet committed, when a revocation of the parent starts. The revocation waits for that commit,
// but its tree was read before, without the child: a second pass must reach the child, or a
// live family would be left under a revoked parent.
TEST(PostgresGroupCommitTest, RevocationReachesAChildExchangedWhileItWaited) {
  const std::string db = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  ASSERT_THAT(s.CreateFamily(Family("parent"), std::nullopt), IsOk());
  PGconn* exchange = PQconnectdb(server->Url(db).c_str());
  ASSERT_EQ(PQstatus(exchange), CONNECTION_OK);
  // What kExchangeSql does in a batch that has not committed yet.
  PQclear(PQexec(exchange,
                 "BEGIN; SELECT revoked_at FROM token_families WHERE family_id = 'parent' "
                 "FOR SHARE; INSERT INTO token_families (family_id, application_arn, user_id, "
                 "scopes, grant_type, session_hash, auth_time, created_at, expires_at, "
                 "revoked_at, parent_family_id, act_json) SELECT 'child', application_arn, "
                 "user_id, scopes, grant_type, '', 0, created_at, expires_at, 0, 'parent', '' "
                 "FROM token_families WHERE family_id = 'parent'"));
  Status revoked = InternalError("not run");
  std::thread revoker([&] { revoked = s.RevokeFamily("parent", kNow + 5); });
  for (int i = 0; i < 500 && AdminQuery("SELECT count(*) FROM pg_stat_activity WHERE datname = '" +
                                        db + "' AND wait_event_type = 'Lock'") == "0";
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  PQclear(PQexec(exchange, "COMMIT"));
  PQfinish(exchange);
  revoker.join();
  ASSERT_THAT(revoked, IsOk());
  EXPECT_EQ(s.GetFamily("parent")->revoked_at, kNow + 5);
  auto child = s.GetFamily("child");
  ASSERT_THAT(child, IsOk());
  EXPECT_EQ(child->revoked_at, kNow + 5);
}

// A refresh's read is the writer's: the checked rotations queued while the writer is busy are
// read in one pipeline and written in one transaction (two round trips between all of them, none
// on the caller's thread), their checks run on the writer thread, and each gets its own
// outcome: a failed check or an unknown token changes nothing, a token rotated before is
// kAlreadyRotated, and two rotations of one token in one batch have one winner.
TEST(PostgresGroupCommitTest, CheckedRotationsAreReadByTheWriterTwoRoundTripsABatch) {
  const std::string db = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  for (const char* fam : {"fam-a", "fam-b", "fam-c", "fam-d"}) {
    const std::string id = fam;
    ASSERT_THAT(s.CreateFamily(Family(id), Refresh("rt-" + id.substr(4), id)), IsOk());
  }
  ASSERT_THAT(s.CreateFamily(Family("fam-old"), Refresh("rt-old", "fam-old")), IsOk());
  ASSERT_THAT(s.RotateRefreshToken("rt-old", kNow + 1, Refresh("rt-old2", "fam-old")),
              IsOkAndHolds(RotateOutcome::kRotated));
  OccupiedWriter occupied(s, db);
  const int64_t before = s.RoundTrips();

  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> checks_on_caller{0};
  std::atomic<int> checks{0};
  auto check_to = [&](const std::string& next) -> GrantStore::RotationCheck {
    return [&, next](const RefreshTokenWithFamily& read) -> StatusOr<RefreshToken> {
      ++checks;
      if (std::this_thread::get_id() == caller) ++checks_on_caller;
      if (read.family.family_id == "fam-b") return InvalidArgumentError("check refused fam-b");
      return Refresh(next, read.family.family_id);
    };
  };
  const std::vector<std::pair<std::string, std::string>> requests = {
      {"rt-a", "rt-a2"}, {"rt-b", "rt-b2"}, {"rt-none", "rt-n2"}, {"rt-old", "rt-old3"},
      {"rt-c", "rt-c2"}, {"rt-c", "rt-c3"}, {"rt-d", "rt-d2"}};
  Rotations out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    s.CheckAndRotateRefreshTokenAsync(requests[i].first, kNow + 3, check_to(requests[i].second),
                                      out.Collect(i));
  }
  // Nothing was read on this thread, and nothing is answered while the writer is busy.
  EXPECT_EQ(s.RoundTrips(), before);
  EXPECT_EQ(checks.load(), 0);
  ASSERT_TRUE(occupied.Release());
  ASSERT_TRUE(out.WaitFor(static_cast<int>(requests.size())));
  EXPECT_THAT(occupied.rotation(), IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_EQ(s.RoundTrips() - before, 2);  // the reads' pipeline and the writes' transaction
  EXPECT_EQ(checks_on_caller.load(), 0);
  EXPECT_EQ(checks.load(), 6);  // every token found (all but rt-none)

  EXPECT_THAT(out.outcomes[0], IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_THAT(out.outcomes[1], StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-b")));
  EXPECT_THAT(out.outcomes[2], StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(out.outcomes[3], IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  EXPECT_THAT(out.outcomes[4], IsOkAndHolds(RotateOutcome::kRotated));
  EXPECT_THAT(out.outcomes[5], IsOkAndHolds(RotateOutcome::kAlreadyRotated));
  EXPECT_THAT(out.outcomes[6], IsOkAndHolds(RotateOutcome::kRotated));
  // What the outcomes say is what the database holds.
  auto read = s.GetRefreshToken("rt-b");
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->token.rotated_at, 0);
  EXPECT_THAT(s.GetRefreshToken("rt-b2"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(s.GetRefreshToken("rt-old3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  EXPECT_THAT(s.GetRefreshToken("rt-c3"),
              StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")));
  read = s.GetRefreshToken("rt-c");
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ(read->token.successor_hash, "rt-c2");
  EXPECT_THAT(s.GetRefreshToken("rt-a2"), IsOk());
  EXPECT_THAT(s.GetRefreshToken("rt-d2"), IsOk());
}

// The jwt-bearer grant's read is the writer's too (issue 21): grants queued while the writer is
// busy read their users in one pipeline and write their families, replay records and audit events
// in one transaction (two round trips between all of them, none on the caller's thread); the check
// runs on the writer thread with each user's assignment; a refused check writes nothing, a
// replayed assertion is refused, and the events carry the caller's request context.
TEST(PostgresGroupCommitTest, CheckedAssertionsAreReadByTheWriterTwoRoundTripsABatch) {
  const std::string db = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  const std::string app = Family("x").application_arn;
  ASSERT_THAT(s.PutApplication(conformance::MakeApp(app)), IsOk());
  for (const char* id : {"user-1", "user-2"}) {
    User u = conformance::MakeUser(id, std::string("name-") + id);
    u.attributes_json = std::string(R"({"Emails":[{"Value":")") + id + R"(@example.com"}]})";
    ASSERT_THAT(s.CreateUser(u), IsOk());
  }
  ASSERT_THAT(s.PutAssignment(app, "user-1", "USER"), IsOk());
  OccupiedWriter occupied(s, db);
  const int64_t before = s.RoundTrips();

  AuditRequestContext context;
  context.source_ip = "203.0.113.7";
  AuditRequest request(context);
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> checks_on_caller{0};
  std::atomic<int> checks{0};
  std::mutex seen_mu;
  std::vector<std::string> seen;  // user:assigned, as each check read them
  auto check_as = [&](const std::string& family_id,
                      const std::string& jti) -> GrantStore::AssertionCheck {
    return
        [&, family_id, jti](
            const std::vector<UserWithAssignment>& users) -> StatusOr<GrantStore::AssertionWrite> {
          ++checks;
          if (std::this_thread::get_id() == caller) ++checks_on_caller;
          if (users.size() != 1) return InvalidArgumentError("no user for " + family_id);
          {
            std::lock_guard lock(seen_mu);
            seen.push_back(users[0].user.user_id + (users[0].assigned ? ":assigned" : ":not"));
          }
          if (!users[0].assigned) return PermissionDeniedError("not assigned");
          GrantStore::AssertionWrite w;
          w.family = Family(family_id);
          w.family.user_id = users[0].user.user_id;
          w.first_refresh = Refresh("rt-" + family_id, family_id);
          w.assertion_id = jti;
          w.assertion_expires_at = kNow + 60;
          AuditEvent event;
          event.event_source = "sso-oauth.amazonaws.com";
          event.event_name = "CreateTokenWithIAM";
          event.principal_id = users[0].user.user_id;
          w.event = std::move(event);
          return w;
        };
  };
  struct Grant {
    std::string email, family_id, jti;
  };
  const std::vector<Grant> grants = {{"user-1@example.com", "fam-1", "jti-1"},
                                     {"user-2@example.com", "fam-2", "jti-2"},
                                     {"none@example.com", "fam-3", "jti-3"},
                                     {"user-1@example.com", "fam-4", "jti-1"}};
  Writes out(grants.size());
  for (size_t i = 0; i < grants.size(); ++i) {
    s.CheckAndCreateFamilyForAssertionAsync({"emails.value", grants[i].email, app},
                                            check_as(grants[i].family_id, grants[i].jti),
                                            out.Collect(i));
  }
  // Nothing was read on this thread, and nothing is answered while the writer is busy.
  EXPECT_EQ(s.RoundTrips(), before);
  EXPECT_EQ(checks.load(), 0);
  ASSERT_TRUE(occupied.Release());
  ASSERT_TRUE(out.WaitFor(static_cast<int>(grants.size())));
  EXPECT_EQ(s.RoundTrips() - before, 2);  // the reads' pipeline and the writes' transaction
  EXPECT_EQ(checks_on_caller.load(), 0);
  EXPECT_EQ(checks.load(), 4);
  EXPECT_THAT(seen,
              ::testing::UnorderedElementsAre("user-1:assigned", "user-2:not", "user-1:assigned"));

  EXPECT_THAT(out.outcomes[0], IsOk());
  EXPECT_THAT(out.outcomes[1], StatusIs(StatusCode::kPermissionDenied, HasSubstr("not assigned")));
  EXPECT_THAT(out.outcomes[2], StatusIs(StatusCode::kInvalidArgument, HasSubstr("fam-3")));
  EXPECT_THAT(out.outcomes[3], StatusIs(StatusCode::kAlreadyExists, HasSubstr("assertion")));
  // What the results say is what the database holds: one family, one event.
  auto family = s.GetFamily("fam-1");
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->user_id, "user-1");
  for (const char* refused : {"fam-2", "fam-3", "fam-4"}) {
    EXPECT_THAT(s.GetFamily(refused), StatusIs(StatusCode::kNotFound, ::testing::_)) << refused;
  }
  AuditQuery query;
  query.event_name = "CreateTokenWithIAM";
  auto events = s.ListAuditEvents(query);
  ASSERT_THAT(events, IsOk());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(events->front().principal_id, "user-1");
  EXPECT_THAT(events->front().json, HasSubstr("203.0.113.7"));
}

// Token exchange as the token endpoint runs it on PostgreSQL: the subject's read in the writer's
// read pipeline, the check on its thread, the family in its transaction. A parent revoked between
// the read and the write is still refused: the write reads its parent FOR SHARE.
TEST(PostgresGroupCommitTest, CheckedExchangesAreReadByTheWriterTwoRoundTripsABatch) {
  const std::string db = NewDatabase();
  auto opened = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(opened, IsOk());
  PostgresStore& s = **opened;
  const std::string app = Family("x").application_arn;
  ASSERT_THAT(s.PutApplication(conformance::MakeApp(app)), IsOk());
  for (const char* id : {"user-1", "user-2"}) {
    ASSERT_THAT(s.CreateUser(conformance::MakeUser(id, std::string("name-") + id)), IsOk());
  }
  ASSERT_THAT(s.PutAssignment(app, "user-1", "USER"), IsOk());
  for (const char* parent : {"parent-a", "parent-b"}) {
    ASSERT_THAT(s.CreateFamily(Family(parent), std::nullopt), IsOk());
  }
  ASSERT_THAT(s.RevokeAccessToken("jti-revoked", kNow + 100), IsOk());
  OccupiedWriter occupied(s, db);
  const int64_t before = s.RoundTrips();

  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> checks_on_caller{0};
  std::atomic<int> checks{0};
  PGconn* revoker = PQconnectdb(server->Url(db).c_str());
  ASSERT_EQ(PQstatus(revoker), CONNECTION_OK);
  auto check_as = [&](const std::string& family_id,
                      bool revoke_parent_meanwhile) -> GrantStore::ExchangeCheck {
    return [&, family_id, revoke_parent_meanwhile](
               const ExchangeSubject& subject) -> StatusOr<GrantStore::ExchangeWrite> {
      ++checks;
      if (std::this_thread::get_id() == caller) ++checks_on_caller;
      if (subject.token_revoked) return InvalidArgumentError("token revoked: " + family_id);
      if (!subject.family.has_value() || subject.family->revoked_at != 0) {
        return InvalidArgumentError("parent gone: " + family_id);
      }
      if (!subject.user_exists || !subject.user_assigned) {
        return PermissionDeniedError("not assigned: " + family_id);
      }
      if (revoke_parent_meanwhile) {  // committed after the read, before the batch's write
        PQclear(PQexec(revoker, ("UPDATE token_families SET revoked_at = 5 WHERE family_id = '" +
                                 subject.family->family_id + "'")
                                    .c_str()));
      }
      GrantStore::ExchangeWrite w;
      w.family = Family(family_id);
      w.family.grant_type = "urn:ietf:params:oauth:grant-type:token-exchange";
      w.family.parent_family_id = subject.family->family_id;
      w.first_refresh = Refresh("rt-" + family_id, family_id);
      w.event = TokenEndpointEvent(family_id);
      return w;
    };
  };
  struct Exchange {
    GrantStore::ExchangeSubjectLookup lookup;
    std::string family_id;
    bool revoke_parent_meanwhile = false;
  };
  const std::vector<Exchange> exchanges = {{{"jti-1", "parent-a", "user-1", app}, "fam-1"},
                                           {{"jti-revoked", "parent-a", "user-1", app}, "fam-2"},
                                           {{"jti-3", "parent-a", "user-2", app}, "fam-3"},
                                           {{"jti-4", "no-such-parent", "user-1", app}, "fam-4"},
                                           {{"jti-5", "parent-b", "user-1", app}, "fam-5", true}};
  Writes out(exchanges.size());
  for (size_t i = 0; i < exchanges.size(); ++i) {
    s.CheckAndCreateExchangedFamilyAsync(
        exchanges[i].lookup, check_as(exchanges[i].family_id, exchanges[i].revoke_parent_meanwhile),
        out.Collect(i));
  }
  // Nothing was read on this thread, and nothing is answered while the writer is busy.
  EXPECT_EQ(s.RoundTrips(), before);
  EXPECT_EQ(checks.load(), 0);
  ASSERT_TRUE(occupied.Release());
  ASSERT_TRUE(out.WaitFor(static_cast<int>(exchanges.size())));
  PQfinish(revoker);
  EXPECT_EQ(s.RoundTrips() - before, 2);  // the reads' pipeline and the writes' transaction
  EXPECT_EQ(checks_on_caller.load(), 0);
  EXPECT_EQ(checks.load(), 5);

  EXPECT_THAT(out.outcomes[0], IsOk());
  EXPECT_THAT(out.outcomes[1], StatusIs(StatusCode::kInvalidArgument, HasSubstr("token revoked")));
  EXPECT_THAT(out.outcomes[2], StatusIs(StatusCode::kPermissionDenied, HasSubstr("not assigned")));
  EXPECT_THAT(out.outcomes[3], StatusIs(StatusCode::kInvalidArgument, HasSubstr("parent gone")));
  EXPECT_THAT(out.outcomes[4],
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("parent token family")));
  // What the results say is what the database holds: one family, one event.
  auto family = s.GetFamily("fam-1");
  ASSERT_THAT(family, IsOk());
  EXPECT_EQ(family->parent_family_id, "parent-a");
  EXPECT_THAT(s.GetRefreshToken("rt-fam-1"), IsOk());
  for (const char* refused : {"fam-2", "fam-3", "fam-4", "fam-5"}) {
    EXPECT_THAT(s.GetFamily(refused), StatusIs(StatusCode::kNotFound, ::testing::_)) << refused;
  }
  EXPECT_EQ(TokenEndpointEvents(s), 1u);
}

// Two nodes, each reading and checking in its writer, rotating one token concurrently: exactly
// one rotation wins across both nodes' batches, whichever read saw the token current.
TEST(PostgresGroupCommitTest, TwoNodesCheckedRotationsHaveOneWinner) {
  const std::string db = NewDatabase();
  auto node1 = PostgresStore::Open(server->Url(db));
  auto node2 = PostgresStore::Open(server->Url(db));
  ASSERT_THAT(node1, IsOk());
  ASSERT_THAT(node2, IsOk());
  ASSERT_THAT((*node1)->CreateFamily(Family("fam"), Refresh("rt", "fam")), IsOk());
  constexpr int kPerNode = 8;
  Rotations out(2 * kPerNode);
  for (int i = 0; i < 2 * kPerNode; ++i) {
    PostgresStore& node = i % 2 == 0 ? **node1 : **node2;
    const std::string next = "next-" + std::to_string(i);
    node.CheckAndRotateRefreshTokenAsync(
        "rt", kNow + 1,
        [next](const RefreshTokenWithFamily& read) -> StatusOr<RefreshToken> {
          return Refresh(next, read.family.family_id);
        },
        out.Collect(static_cast<size_t>(i)));
  }
  ASSERT_TRUE(out.WaitFor(2 * kPerNode));
  int rotated = 0;
  int already = 0;
  for (const auto& o : out.outcomes) {
    ASSERT_THAT(o, IsOk());
    if (*o == RotateOutcome::kRotated) ++rotated;
    if (*o == RotateOutcome::kAlreadyRotated) ++already;
  }
  EXPECT_EQ(rotated, 1);
  EXPECT_EQ(already, 2 * kPerNode - 1);
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM refresh_tokens", db), "2");
}

// A read of a batch's read pipeline that fails gets its own error; the reads after it, which
// the pipeline skipped, are read again and get their own results.
TEST(PostgresGroupCommitTest, AFailingReadDoesNotFailTheOtherReads) {
  WriterFixture f;
  f.Occupy(300);
  const std::vector<int> divisors = {1, 2, 0, 4, 5};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> reads(divisors.size());
  size_t decided = 0;
  for (size_t i = 0; i < divisors.size(); ++i) {
    f.writer->RunCheckedAsync(
        "SELECT 100 / $1::int", MakeParams(divisors[i]),
        [&, i](StatusOr<Result> read) -> std::optional<GroupCommitWriter::Write> {
          std::lock_guard lock(mu);
          reads[i] = read.ok() ? read->Text(0, 0) : std::string(read.status().message());
          ++decided;
          cv.notify_all();
          return std::nullopt;  // answered: nothing to write
        },
        [](StatusOr<Result>, const std::string&, const std::string&) {
          ADD_FAILURE() << "a checked write that answered itself was written";
        });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return decided == 5; }));
  EXPECT_EQ(reads[0], "100");
  EXPECT_EQ(reads[1], "50");
  EXPECT_THAT(reads[2], HasSubstr("division by zero"));
  EXPECT_EQ(reads[3], "25");
  EXPECT_EQ(reads[4], "20");
}

// The writer's metrics after known writes: a batch's size, its commit's duration, its reads'
// duration, and the queue's depth while writes wait for a busy writer.
TEST(PostgresGroupCommitTest, WriterMetricsCountBatchesWritesAndTheQueue) {
  WriterFixture f;
  ASSERT_THAT(f.writer->Run(kInsert, MakeParams(std::string("warm"))), IsOk());  // registers
  metrics::Registry& registry = metrics::DefaultRegistry();
  auto histogram = [&](const char* name) {
    auto* family = dynamic_cast<metrics::HistogramFamily*>(registry.Find(name));
    EXPECT_NE(family, nullptr) << name;
    return family != nullptr ? family->At(0).Read() : metrics::Histogram::Snapshot{};
  };
  auto* depth_family =
      dynamic_cast<metrics::GaugeFamily*>(registry.Find("tessera_postgres_writer_queue_depth"));
  ASSERT_NE(depth_family, nullptr);
  const metrics::Gauge depth = depth_family->At(0);
  const double depth_before = depth.Value();
  const auto size_before = histogram("tessera_postgres_writer_batch_size");
  const auto commit_before = histogram("tessera_postgres_writer_commit_duration_seconds");
  const auto read_before = histogram("tessera_postgres_writer_read_duration_seconds");

  f.Occupy(300);
  constexpr int kWrites = 20;
  Outcome out(kWrites + 1);
  for (int i = 0; i < kWrites; ++i) {
    f.writer->RunAsync(kInsert, MakeParams("k" + std::to_string(i)), out.Collect(i));
  }
  // One checked write among them: its read is the batch's read pipeline.
  f.writer->RunCheckedAsync(
      "SELECT count(*) FROM t", Params(),
      [](StatusOr<Result> read) -> std::optional<GroupCommitWriter::Write> {
        if (!read.ok()) return std::nullopt;
        return GroupCommitWriter::Write{kInsert, MakeParams("after-" + read->Text(0, 0))};
      },
      out.Collect(kWrites));
  EXPECT_EQ(depth.Value() - depth_before, kWrites + 1);
  ASSERT_TRUE(out.WaitFor(kWrites + 1, std::chrono::seconds(10)));
  for (const Status& s : out.statuses) EXPECT_THAT(s, IsOk());
  EXPECT_EQ(depth.Value(), depth_before);

  const auto size_after = histogram("tessera_postgres_writer_batch_size");
  EXPECT_EQ(size_after.count - size_before.count, 2u);  // the occupying batch and the 21
  EXPECT_DOUBLE_EQ(size_after.sum - size_before.sum, 1 + kWrites + 1);
  const auto commit_after = histogram("tessera_postgres_writer_commit_duration_seconds");
  EXPECT_EQ(commit_after.count - commit_before.count, 2u);
  EXPECT_GE(commit_after.sum - commit_before.sum, 0.3);  // the occupying batch slept 300 ms
  const auto read_after = histogram("tessera_postgres_writer_read_duration_seconds");
  EXPECT_EQ(read_after.count - read_before.count, 1u);
  // The read saw the two rows committed before its batch ("warm" and none of the 20).
  EXPECT_EQ(AdminQuery("SELECT count(*) FROM t WHERE k = 'after-1'", f.db), "1");
}

}  // namespace
}  // namespace ts::storage
