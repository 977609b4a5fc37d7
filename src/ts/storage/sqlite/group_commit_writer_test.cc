#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "test/common/status_matchers.h"
#include "ts/common/metrics.h"
#include "ts/storage/conformance/conformance_test.h"
#include "ts/storage/sqlite/sqlite_store.h"
#include "ts/storage/sqlite/sqlite_store_test.h"

namespace ts::storage {
namespace {

using sqlite_test::CreateFamilyWithToken;
using sqlite_test::kNow;
using sqlite_test::RawDb;
using sqlite_test::SqliteStoreTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::ts::testing::IsOk;
using ::ts::testing::IsOkAndHolds;
using ::ts::testing::StatusIs;

namespace fs = std::filesystem;

// Checkpoints (SqliteStoreOptions), counted by the checkpoint thread's metric.
class SqliteCheckpointTest : public SqliteStoreTest {
 protected:
  // The checkpoints run so far in this process at `stage` ("pass" or "catch_up").
  static uint64_t Checkpoints(size_t stage) {
    const auto* family = static_cast<const metrics::HistogramFamily*>(
        metrics::DefaultRegistry().Find("tessera_sqlite_checkpoint_duration_seconds"));
    return family == nullptr ? 0 : family->At(stage).Read().count;
  }

  // Opens a store with `options` and makes twenty commits one after another, each a batch of
  // one (well over 20 pages in the log); true when the checkpoint thread was asked to copy the
  // log meanwhile (counted once the store has closed: closing runs a requested checkpoint).
  // Every write is readable afterwards either way.
  bool CheckpointedWhileWriting(const SqliteStoreOptions& options) {
    auto store = OpenOrDie(options);
    if (store == nullptr) return false;
    const uint64_t before = Checkpoints(0);
    for (int i = 0; i < 20; ++i) {
      User user;
      user.user_id = "user-" + std::to_string(i);
      user.user_name = "name-" + std::to_string(i);
      EXPECT_THAT(store->CreateUser(user), IsOk());
    }
    for (int i = 0; i < 20; ++i) {
      EXPECT_THAT(store->GetUserByName("name-" + std::to_string(i)), IsOk()) << i;
    }
    store.reset();
    return Checkpoints(0) > before;
  }
};

TEST_F(SqliteCheckpointTest, OptionsOutOfRangeAreInvalidArgument) {
  auto refused = [this](SqliteStoreOptions options, const char* what) {
    EXPECT_THAT(SqliteStore::Open(path_, options),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(what)))
        << what;
  };
  SqliteStoreOptions options;
  options.checkpoint_pages = 0;
  refused(options, "checkpoint_pages");
  options = {};
  options.light_load_checkpoint_pages = 0;
  refused(options, "light_load_checkpoint_pages");
  options = {};
  options.light_load_batches = 0;
  refused(options, "light_load_batches");
  options = {};
  options.light_load_batch_size = -1;
  refused(options, "light_load_batch_size");
}

TEST_F(SqliteCheckpointTest, LogAtCheckpointPagesIsCopiedAtTheCommit) {
  SqliteStoreOptions options;
  options.checkpoint_pages = 10;
  options.light_load_batch_size = 0;  // no light-load checkpoints
  EXPECT_TRUE(CheckpointedWhileWriting(options));
}

// The writer keeps committing while the checkpoint thread copies, so the log is never wholly
// copied at the end of a pass; the writer's own short copy afterwards (the catch-up) is what
// lets SQLite restart the log. Without it the log would hold every commit of the run.
TEST_F(SqliteCheckpointTest, UnderContinuousWritesTheLogRestartsAndStaysShort) {
  SqliteStoreOptions options;
  options.checkpoint_pages = 50;
  options.light_load_batch_size = 0;
  auto store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  const uint64_t catch_ups = Checkpoints(1);
  constexpr int kThreads = 4;
  constexpr int kWritesEach = 400;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kWritesEach; ++i) {
        User user;
        user.user_id = "user-" + std::to_string(t) + "-" + std::to_string(i);
        user.user_name = "name-" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_THAT(store->CreateUser(user), IsOk());
      }
    });
  }
  for (auto& t : threads) t.join();
  // 1,600 commits of several pages each: tens of megabytes had the log never restarted.
  const uintmax_t log_bytes = fs::file_size(path_ + "-wal");
  EXPECT_LT(log_bytes, 4u << 20) << "the log was not restarted";
  EXPECT_GT(Checkpoints(1), catch_ups) << "the writer never caught up";
  store.reset();
  store = OpenOrDie(options);
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->GetUserByName("name-3-399"), IsOk());
}

TEST_F(SqliteCheckpointTest, SmallLogStaysInTheLogByDefault) {
  EXPECT_FALSE(CheckpointedWhileWriting(SqliteStoreOptions()));
}

TEST_F(SqliteCheckpointTest, UnderLightLoadASmallerLogIsCopied) {
  SqliteStoreOptions options;
  options.light_load_checkpoint_pages = 10;  // checkpoint_pages stays 10,000
  options.light_load_batches = 4;
  options.light_load_batch_size = 1;
  EXPECT_TRUE(CheckpointedWhileWriting(options));
}

TEST_F(SqliteCheckpointTest, TooFewSmallBatchesInARowAreNotLightLoad) {
  SqliteStoreOptions options;
  options.light_load_checkpoint_pages = 10;
  options.light_load_batch_size = 8;
  options.light_load_batches = 1000;  // twenty batches are not enough
  EXPECT_FALSE(CheckpointedWhileWriting(options));
}

TEST_F(SqliteCheckpointTest, BatchesLargerThanLightLoadBatchSizeAreNotLightLoad) {
  SqliteStoreOptions options;
  options.light_load_checkpoint_pages = 10;
  options.light_load_batches = 1;
  options.light_load_batch_size = 0;  // every batch is larger
  EXPECT_FALSE(CheckpointedWhileWriting(options));
}

// Group commit: many writers share one transaction, each body in its own savepoint. A body that
// fails (here: a duplicate) must roll back alone, and every body that succeeded must be durable.
TEST_F(SqliteStoreTest, ConcurrentWritesThatFailRollBackAloneAndTheRestCommit) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  User taken;
  taken.user_id = "taken-id";
  taken.user_name = "taken";
  ASSERT_THAT(store->CreateUser(taken), IsOk());
  constexpr int kThreads = 48;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      User user;
      user.user_id = "id-" + std::to_string(i);
      // Every third writer reuses a taken user name.
      user.user_name = i % 3 == 0 ? "taken" : "user-" + std::to_string(i);
      results[static_cast<size_t>(i)] = store->CreateUser(user);
    });
  }
  for (auto& t : threads) t.join();
  store.reset();
  store = OpenOrDie();  // what was acknowledged is on disk
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < kThreads; ++i) {
    const std::string id = "id-" + std::to_string(i);
    if (i % 3 == 0) {
      EXPECT_THAT(results[static_cast<size_t>(i)],
                  StatusIs(StatusCode::kAlreadyExists, HasSubstr("user name already exists")))
          << i;
      EXPECT_THAT(store->GetUser(id), StatusIs(StatusCode::kNotFound, HasSubstr(id))) << i;
    } else {
      EXPECT_THAT(results[static_cast<size_t>(i)], IsOk()) << i;
      EXPECT_THAT(store->GetUser(id), IsOk()) << i;
    }
  }
  auto users = store->ListUsers();
  ASSERT_THAT(users, IsOk());
  EXPECT_EQ(users->size(), 1u + kThreads - (kThreads + 2) / 3);
}

// A body that fails after its first statement (the rotation's UPDATE succeeded, the successor's
// INSERT hit a duplicate) leaves nothing behind, while rotations batched with it go through.
TEST_F(SqliteStoreTest, HalfDoneBodyIsUndoneInsideABatch) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kChains = 24;
  for (int i = 0; i < kChains; ++i) {
    TokenFamily family;
    family.family_id = "fam-" + std::to_string(i);
    family.expires_at = kNow + 100;
    RefreshToken token;
    token.token_hash = "rt-" + std::to_string(i);
    token.family_id = family.family_id;
    token.expires_at = kNow + 100;
    ASSERT_THAT(store->CreateFamily(family, token), IsOk());
  }
  std::vector<StatusOr<RotateOutcome>> results(kChains,
                                               StatusOr<RotateOutcome>(InternalError("unset")));
  std::vector<std::thread> threads;
  for (int i = 0; i < kChains; ++i) {
    threads.emplace_back([&, i] {
      RefreshToken next;
      next.family_id = "fam-" + std::to_string(i);
      next.expires_at = kNow + 100;
      // Odd chains name an existing token as their successor: the INSERT fails.
      next.token_hash = i % 2 == 1 ? "rt-0" : "next-" + std::to_string(i);
      results[static_cast<size_t>(i)] =
          store->RotateRefreshToken("rt-" + std::to_string(i), kNow, next);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kChains; ++i) {
    auto token = store->GetRefreshToken("rt-" + std::to_string(i));
    ASSERT_THAT(token, IsOk());
    if (i % 2 == 1) {
      EXPECT_THAT(results[static_cast<size_t>(i)],
                  StatusIs(StatusCode::kAlreadyExists, HasSubstr("refresh token already exists")))
          << i;
      EXPECT_EQ(token->token.rotated_at, 0) << i;  // the UPDATE was undone with it
      EXPECT_EQ(token->token.successor_hash, "") << i;
    } else {
      EXPECT_THAT(results[static_cast<size_t>(i)], IsOkAndHolds(RotateOutcome::kRotated)) << i;
      EXPECT_EQ(token->token.successor_hash, "next-" + std::to_string(i)) << i;
    }
  }
}

// --- RotateRefreshTokenAsync on the group-commit writer ---

// Creates family `family_id` with its first refresh token `hash`.
Status CreateChain(Store& store, const std::string& family_id, const std::string& hash) {
  return CreateFamilyWithToken(store, family_id, hash, kNow + 100, kNow + 100);
}

RefreshToken Successor(const std::string& hash, const std::string& family_id) {
  RefreshToken next;
  next.token_hash = hash;
  next.family_id = family_id;
  next.scopes = {"openid"};
  next.created_at = kNow;
  next.expires_at = kNow + 100;
  return next;
}

// Asynchronous rotations and blocking writes from several threads share the writer's batches:
// every one is acknowledged with its own result, and all of it is on disk after a reopen.
TEST_F(SqliteStoreTest, AsyncAndBlockingWritesInterleavedFromSeveralThreadsAllLand) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 12;
  constexpr size_t kTotal = kThreads * kPerThread;
  for (size_t i = 0; i < kTotal; ++i) {
    ASSERT_THAT(CreateChain(*store, "fam-" + std::to_string(i), "rt-" + std::to_string(i)), IsOk());
  }
  auto completions = std::make_shared<Completions>(kTotal);
  std::vector<Status> user_results(kTotal, InternalError("not run"));
  std::vector<StatusOr<RotateOutcome>> blocking_results(kTotal, InternalError("not run"));
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < kPerThread; ++k) {
        const size_t i = static_cast<size_t>(t * kPerThread + k);
        const std::string n = std::to_string(i);
        // Odd slots rotate asynchronously then write a user; even slots the other way round.
        if (i % 2 == 1) {
          store->RotateRefreshTokenAsync("rt-" + n, kNow + 1, Successor("next-" + n, "fam-" + n),
                                         RecordInto(completions, i));
        }
        User user;
        user.user_id = "user-" + n;
        user.user_name = "name-" + n;
        user_results[i] = store->CreateUser(user);
        if (i % 2 == 0) {
          store->RotateRefreshTokenAsync("rt-" + n, kNow + 1, Successor("next-" + n, "fam-" + n),
                                         RecordInto(completions, i));
        }
        // Then a blocking rotation of the same token: it queues behind the asynchronous one.
        blocking_results[i] =
            store->RotateRefreshToken("rt-" + n, kNow + 2, Successor("other-" + n, "fam-" + n));
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";

  {
    std::lock_guard<std::mutex> lock(completions->mu);
    for (size_t i = 0; i < kTotal; ++i) {
      EXPECT_EQ(completions->calls[i], 1) << i;
      EXPECT_THAT(user_results[i], IsOk()) << i;
      // The same thread's blocking rotation of the same token queued after its asynchronous
      // one, so the asynchronous one won.
      EXPECT_THAT(completions->results[i], IsOkAndHolds(RotateOutcome::kRotated)) << i;
      EXPECT_THAT(blocking_results[i], IsOkAndHolds(RotateOutcome::kAlreadyRotated)) << i;
    }
  }
  store.reset();
  store = OpenOrDie();  // what was acknowledged is on disk
  ASSERT_NE(store, nullptr);
  for (size_t i = 0; i < kTotal; ++i) {
    const std::string n = std::to_string(i);
    EXPECT_THAT(store->GetUser("user-" + n), IsOk()) << i;
    auto old = store->GetRefreshToken("rt-" + n);
    ASSERT_THAT(old, IsOk()) << i;
    EXPECT_EQ(old->token.rotated_at, kNow + 1) << i;
    EXPECT_EQ(old->token.successor_hash, "next-" + n) << i;
    EXPECT_THAT(store->GetRefreshToken("next-" + n), IsOk()) << i;
    EXPECT_THAT(store->GetRefreshToken("other-" + n),
                StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
        << i;
  }
}

// `done` comes after the commit: when it runs, another connection already sees the rotation, and
// the rotation survives closing and reopening the file.
TEST_F(SqliteStoreTest, RotationWhoseDoneWasCalledIsDurable) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateChain(*store, "fam-1", "rt-1"), IsOk());
  struct Seen {
    std::mutex mu;
    std::condition_variable cv;
    int calls = 0;
    StatusOr<RotateOutcome> result = InternalError("done was not called");
    std::vector<std::string> successor_seen;  // by another connection, from inside `done`
  };
  auto seen = std::make_shared<Seen>();
  const std::string path = path_;
  store->RotateRefreshTokenAsync(
      "rt-1", kNow + 5, Successor("rt-2", "fam-1"), [seen, path](StatusOr<RotateOutcome> result) {
        RawDb raw(path);
        std::vector<std::string> successor = raw.Column(
            "SELECT successor_hash FROM refresh_tokens WHERE token_hash = 'rt-1' "
            "AND rotated_at = " +
            std::to_string(kNow + 5) +
            " AND EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = 'rt-2')");
        std::lock_guard<std::mutex> lock(seen->mu);
        if (seen->calls++ == 0) {
          seen->result = std::move(result);
          seen->successor_seen = std::move(successor);
        }
        seen->cv.notify_all();
      });
  {
    std::unique_lock<std::mutex> lock(seen->mu);
    ASSERT_TRUE(seen->cv.wait_for(lock, kAsyncTimeout, [&] { return seen->calls > 0; }))
        << "done was not called within the timeout";
    EXPECT_THAT(seen->result, IsOkAndHolds(RotateOutcome::kRotated));
    EXPECT_THAT(seen->successor_seen, ElementsAre("rt-2"));
  }
  store.reset();  // joins the writer: a second call of `done` would have happened by now
  EXPECT_EQ(seen->calls, 1);

  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  auto old = store->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, kNow + 5);
  EXPECT_EQ(old->token.successor_hash, "rt-2");
  auto next = store->GetRefreshToken("rt-2");
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(next->token.scopes, ElementsAre("openid"));
  EXPECT_EQ(next->token.rotated_at, 0);
}

// The checks RotateRefreshToken makes before writing answer through `done` too, once each, and
// change nothing.
TEST_F(SqliteStoreTest, AsyncRotationWithNonPositiveTimeIsInvalidArgumentThroughDone) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateChain(*store, "fam-1", "rt-1"), IsOk());
  auto completions = std::make_shared<Completions>(3);
  store->RotateRefreshTokenAsync("rt-1", 0, Successor("rt-2", "fam-1"), RecordInto(completions, 0));
  store->RotateRefreshTokenAsync("rt-1", -1, Successor("rt-3", "fam-1"),
                                 RecordInto(completions, 1));
  // A later rotation through the writer: once its completion is in, every earlier one is.
  store->RotateRefreshTokenAsync("rt-none", kNow, Successor("rt-4", "fam-1"),
                                 RecordInto(completions, 2));
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  {
    std::lock_guard<std::mutex> lock(completions->mu);
    EXPECT_THAT(completions->results[0],
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("now must be positive")));
    EXPECT_THAT(completions->results[1],
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("now must be positive")));
    EXPECT_THAT(completions->results[2],
                StatusIs(StatusCode::kNotFound, HasSubstr("no such refresh token")));
    EXPECT_THAT(completions->calls, ElementsAre(1, 1, 1));
  }
  auto old = store->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
  for (const char* hash : {"rt-2", "rt-3", "rt-4"}) {
    EXPECT_THAT(store->GetRefreshToken(hash),
                StatusIs(StatusCode::kNotFound, HasSubstr("refresh token")))
        << hash;
  }
}

TEST_F(SqliteStoreTest, AsyncRotationWithScopesWithWhitespaceIsInvalidArgumentThroughDone) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_THAT(CreateChain(*store, "fam-1", "rt-1"), IsOk());
  auto completions = std::make_shared<Completions>(2);
  RefreshToken bad = Successor("rt-2", "fam-1");
  bad.scopes = {"openid", "two words"};
  store->RotateRefreshTokenAsync("rt-1", kNow, bad, RecordInto(completions, 0));
  store->RotateRefreshTokenAsync("rt-none", kNow, Successor("rt-4", "fam-1"),
                                 RecordInto(completions, 1));
  ASSERT_TRUE(AwaitAll(*completions)) << "not every done was called within the timeout";
  {
    std::lock_guard<std::mutex> lock(completions->mu);
    EXPECT_THAT(completions->results[0],
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("two words")));
    EXPECT_THAT(completions->calls, ElementsAre(1, 1));
  }
  auto old = store->GetRefreshToken("rt-1");
  ASSERT_THAT(old, IsOk());
  EXPECT_EQ(old->token.rotated_at, 0);
}

// Closing the store drains the writer's queue: rotations queued when the last reference goes
// are committed and their `done` called, once, with their outcome.
TEST_F(SqliteStoreTest, DestroyingTheStoreWithAsyncWritesQueuedCallsEveryDone) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  constexpr size_t kQueued = 64;
  ASSERT_THAT(CreateChain(*store, "fam-gate", "rt-gate"), IsOk());
  for (size_t i = 0; i < kQueued; ++i) {
    ASSERT_THAT(CreateChain(*store, "fam-" + std::to_string(i), "rt-" + std::to_string(i)), IsOk());
  }
  // The gate: a rotation whose `done` holds the writer thread until released, so what is issued
  // meanwhile stays queued.
  struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool entered = false;
    bool open = false;
    StatusOr<RotateOutcome> result = InternalError("done was not called");
  };
  auto gate = std::make_shared<Gate>();
  store->RotateRefreshTokenAsync(
      "rt-gate", kNow + 1, Successor("next-gate", "fam-gate"), [gate](StatusOr<RotateOutcome> r) {
        std::unique_lock<std::mutex> lock(gate->mu);
        gate->result = std::move(r);
        gate->entered = true;
        gate->cv.notify_all();
        gate->cv.wait_for(lock, kAsyncTimeout, [&] { return gate->open; });
      });
  {
    std::unique_lock<std::mutex> lock(gate->mu);
    ASSERT_TRUE(gate->cv.wait_for(lock, kAsyncTimeout, [&] { return gate->entered; }))
        << "the gate's done was not called within the timeout";
  }
  auto completions = std::make_shared<Completions>(kQueued);
  for (size_t i = 0; i < kQueued; ++i) {
    const std::string n = std::to_string(i);
    store->RotateRefreshTokenAsync("rt-" + n, kNow + 2, Successor("next-" + n, "fam-" + n),
                                   RecordInto(completions, i));
  }
  {
    std::lock_guard<std::mutex> lock(completions->mu);
    ASSERT_EQ(completions->answered, 0u) << "the writer was not held by the gate";
  }

  // Drop the last reference on another thread (the destructor joins the writer, which waits for
  // the gate); open the gate once the destruction has begun.
  std::weak_ptr<SqliteStore> weak = store;
  std::thread closer([store = std::move(store)]() mutable { store.reset(); });
  const auto deadline = std::chrono::steady_clock::now() + kAsyncTimeout;
  while (!weak.expired() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_TRUE(weak.expired()) << "the store's destruction did not begin";
  {
    std::lock_guard<std::mutex> lock(gate->mu);
    gate->open = true;
  }
  gate->cv.notify_all();
  closer.join();  // the writer has stopped: every `done` it will ever call has been called

  EXPECT_THAT(gate->result, IsOkAndHolds(RotateOutcome::kRotated));
  {
    std::lock_guard<std::mutex> lock(completions->mu);
    EXPECT_EQ(completions->answered, kQueued);
    for (size_t i = 0; i < kQueued; ++i) {
      EXPECT_EQ(completions->calls[i], 1) << i;
      EXPECT_THAT(completions->results[i], IsOkAndHolds(RotateOutcome::kRotated)) << i;
    }
  }
  store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  for (size_t i = 0; i < kQueued; ++i) {
    const std::string n = std::to_string(i);
    auto old = store->GetRefreshToken("rt-" + n);
    ASSERT_THAT(old, IsOk()) << i;
    EXPECT_EQ(old->token.successor_hash, "next-" + n) << i;
    EXPECT_THAT(store->GetRefreshToken("next-" + n), IsOk()) << i;
  }
}

}  // namespace
}  // namespace ts::storage
