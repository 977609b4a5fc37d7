// File: group_commit_writer.h
// GroupCommitWriter: the SQLite backend's one writer thread, which runs every write of the store
// in shared transactions (group commit) and checkpoints the write-ahead log. Internal to
// src/ts/storage/sqlite/ (SqliteStore::Impl owns one).
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ts/common/log.h"
#include "ts/common/status.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::storage::sqlite_internal {

class Connection;  // sqlite_internal.h

// Group commit. Every write of the store goes through one writer thread that owns one
// connection: callers queue their transaction bodies and block; the writer takes everything
// queued while the previous batch was committing, runs the bodies in one BEGIN IMMEDIATE
// transaction, each inside its own SAVEPOINT, and commits once, so one WAL sync acknowledges the
// whole batch. Nothing is acknowledged before its batch's COMMIT returned (synchronous=FULL), so
// the durability contract is unchanged; what changes is that N concurrent writers cost one sync
// instead of N syncs plus N-1 busy-waits for the write lock. Bodies run one after another in
// queue order, which is also the order SQLite's write lock would have imposed.
//
// A caller that must not block (RotateRefreshTokenAsync, for the server's io threads) queues its
// body with a completion instead: the writer calls it after the batch's commit.
//
// Checkpoints (copying the log back into the database file, with its fsync) run on a thread and
// connection of their own, so that the writer keeps committing meanwhile: a checkpoint on the
// writer thread stalled every write queued behind it, for tens to hundreds of milliseconds as
// the database grew (docs/design/storage.md, "Checkpoints"). The writer itself then copies only
// the few pages committed during the last pass, so that the log is wholly copied at one of its
// commits and restarts from its beginning at the next (SQLite restarts it only then).
class GroupCommitWriter {
 public:
  using Body = std::function<Status(Connection&)>;
  using Done = std::function<void(Status)>;

  GroupCommitWriter();
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // `checkpointer` is a second connection to the same database, for the checkpoint thread.
  Status Start(std::unique_ptr<Connection> connection, std::unique_ptr<Connection> checkpointer,
               const SqliteStoreOptions& options);

  // Runs `body` in the next batch; returns its status once the batch committed, or the commit's
  // error if the batch could not be committed.
  Status Run(const Body& body);

  // Runs `body` in the next batch and then, on the writer thread, `done` with what Run would
  // have returned. `done` must be quick and must not write through this writer.
  void RunAsync(Body body, Done done);

 private:
  struct Pending {
    const Body* body = nullptr;
    Status status;
    Body owned_body;  // RunAsync's; Run's body lives on its caller's stack
    Done done;        // RunAsync's completion; empty for Run
    // The request that queued it: its body and completion log under that id (log.h).
    log::RequestId request_id = log::CurrentRequestId();
  };
  // The callers of one batch wait on one signal and are woken by one broadcast once it has
  // committed: a futex call per batch rather than per caller (those calls were 7% of the server's
  // CPU under load). A futex sleep, too: libstdc++'s std::binary_semaphore spins with
  // sched_yield first, which on a busy core cost a further 9%.
  struct BatchSignal {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };

  void Stop();
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int pages);
  void RequestCheckpoint();
  void CheckpointLoop();
  void CatchUp();
  void Loop();
  void RunBatch(const std::vector<Pending*>& batch);

  std::unique_ptr<Connection> connection_;
  int checkpoint_pages_ = 0;
  int light_load_checkpoint_pages_ = 0;
  int light_load_batches_ = 0;
  int light_load_batch_size_ = 0;
  int small_batches_in_a_row_ = 0;  // writer thread only
  bool checkpoint_due_ = false;     // writer thread only
  int copied_pages_ = 0;            // writer thread only: of the log, copied by the last catch-up
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;
  std::shared_ptr<BatchSignal> open_signal_ = std::make_shared<BatchSignal>();  // queue_'s batch
  bool stopping_ = false;
  std::thread thread_;

  // The checkpoint thread. checkpoint_requested_ stays set while its passes run, so that the
  // writer's requests meanwhile fold into the running checkpoint.
  std::unique_ptr<Connection> checkpointer_;
  std::mutex checkpoint_mu_;
  std::condition_variable checkpoint_cv_;
  bool checkpoint_requested_ = false;      // guarded by checkpoint_mu_
  bool checkpointer_stopping_ = false;     // guarded by checkpoint_mu_
  std::atomic<bool> catch_up_due_{false};  // set by the checkpoint thread, taken by the writer
  std::thread checkpoint_thread_;
};

}  // namespace ts::storage::sqlite_internal
