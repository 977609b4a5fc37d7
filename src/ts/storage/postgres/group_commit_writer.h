// File: group_commit_writer.h
// GroupCommitWriter: the PostgreSQL backend's writer thread, which runs the token endpoint's
// asynchronous writes of many requests as one pipelined transaction (group commit: one round
// trip and one WAL flush per batch). Internal to src/ts/storage/postgres/ (PostgresStore::Impl
// owns one). The SQLite backend's writer (sqlite/group_commit_writer.h) is its model.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ts/common/status.h"
#include "ts/storage/postgres/postgres_internal.h"

namespace ts::storage::postgres_internal {

// Group commit on PostgreSQL. A caller queues one statement (a single-statement write whose
// ordinary outcomes, reuse, not found, a lost race, come back as rows rather than errors) with a
// completion. The writer thread takes everything queued while the previous batch was in flight
// (at most max_batch), sends BEGIN, the statements and COMMIT as one libpq pipeline on its own
// connection and, once COMMIT has returned, calls each completion with its statement's result:
// nothing is acknowledged before it is durable (synchronous_commit = on).
//
// In one transaction a failing statement aborts all of them. Then nothing was committed, and the
// writer runs each statement of the batch again on its own (its own implicit transaction), so
// only the failing one gets its error. If the connection broke after COMMIT was sent, the
// outcome is unknown: every completion gets Unavailable and nothing is retried (the rule of
// postgres_store.h on ambiguous commits).
//
// Races across nodes are unchanged: each statement's row locks are held until the batch commits,
// and a concurrent statement of another node waits for them and re-checks its condition, as it
// would behind a single statement's transaction. Statements of one batch run in queue order and
// see each other's effects, as if run one after another.
class GroupCommitWriter {
 public:
  // Gets a statement's result (or error) once it is durable, on the writer thread; `sqlstate`
  // and `table` name a failure's SQLSTATE and table ("" otherwise). Must be quick and must not
  // queue on this writer.
  using Done = std::function<void(StatusOr<Result> result, const std::string& sqlstate,
                                  const std::string& table)>;
  using Connect = std::function<StatusOr<std::unique_ptr<Connection>>()>;

  struct Options {
    // Statements per transaction at most. It bounds the bytes in flight on the socket before
    // the writer reads (libpq's blocking pipeline) and a batch's lock hold time.
    int max_batch = 256;
  };

  GroupCommitWriter(Connect connect, Options options);
  // Stops the thread once everything queued has been written and acknowledged.
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Queues `sql` with `params` for the next batch; `done` is called exactly once.
  void RunAsync(std::string_view sql, Params params, Done done);

  // Runs the statement in the next batch and waits for its result (for tests and the blocking
  // callers that want to share a batch).
  StatusOr<Result> Run(std::string_view sql, Params params);

  // Batches (pipelined transactions) sent so far; for tests and metrics.
  int64_t batches() const { return batches_.load(std::memory_order_relaxed); }

 private:
  struct Pending {
    std::string_view sql;
    Params params;
    Done done;
  };

  void Loop();
  void RunBatch(std::vector<Pending>& batch);
  // The writer's connection, opened (again) when there is none or it broke.
  StatusOr<Connection*> Ready();

  const Connect connect_;
  const Options options_;
  std::unique_ptr<Connection> connection_;  // writer thread only
  std::atomic<int64_t> batches_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> queue_;  // guarded by mu_
  bool stopping_ = false;       // guarded by mu_
  std::thread thread_;
};

}  // namespace ts::storage::postgres_internal
