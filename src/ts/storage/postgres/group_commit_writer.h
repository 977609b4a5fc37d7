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
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ts/common/log.h"
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
// A checked write (RunCheckedAsync) reads first: the writer sends the batch's reads as one
// pipeline outside the transaction, before it, and hands each result to its `decide` on the
// writer thread, which either returns the statement to write in this batch or answers its caller
// itself (a failed check, which changes nothing). So a batch is two round trips however many
// reads and writes it holds. The reads see every batch committed before (the writer's own
// included), not the writes of their own batch: two checked writes of one row in one batch are
// settled by the second statement's compare-and-set, as across nodes.
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

  // A statement to write, as a checked write's `decide` returns it.
  struct Write {
    std::string_view sql;  // a string literal: it outlives the batch
    Params params;
  };
  // Gets a checked write's read (or its error) on the writer thread, before the batch's
  // transaction. Returns the write to run in that transaction, whose result then goes to `done`;
  // or nullopt once it has answered its caller itself, and then `done` is not called. Must be
  // quick and must not queue on this writer.
  using Decide = std::function<std::optional<Write>(StatusOr<Result> read)>;
  // Queues the read `read_sql` with `read_params` for the next batch's read pipeline; then as
  // `decide` says. Exactly one of `decide`'s own answer and `done` reaches the caller.
  void RunCheckedAsync(std::string_view read_sql, Params read_params, Decide decide, Done done);

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
    // A checked write's read and decision (RunCheckedAsync); `sql` is set once decided.
    std::string_view read_sql;
    Params read_params;
    Decide decide;
    // The request that queued it: the completion logs under its id (log.h).
    log::RequestId request_id = log::CurrentRequestId();

    void Answer(StatusOr<Result> result, const std::string& sqlstate, const std::string& table) {
      log::ScopedRequestId scope(request_id);
      done(std::move(result), sqlstate, table);
    }
    std::optional<Write> Decided(StatusOr<Result> read) {
      log::ScopedRequestId scope(request_id);
      return decide(std::move(read));
    }
  };

  void Queue(Pending pending);
  void Loop();
  void RunBatch(std::vector<Pending>& batch);
  // The batch's checked writes: reads them in one pipeline and lets each decide; removes from
  // `batch` those that answered already.
  void ReadAndDecide(std::vector<Pending>& batch);
  // The batch's writes in one pipelined transaction (or one by one after it failed).
  void WriteBatch(std::vector<Pending>& batch);
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
