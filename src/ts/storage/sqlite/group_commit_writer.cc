#include "ts/storage/sqlite/group_commit_writer.h"

#include <pthread.h>

#include <chrono>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include "ts/common/metrics.h"
#include "ts/storage/sqlite/sqlite_internal.h"

namespace ts::storage::sqlite_internal {
namespace {

// The writer's metrics (every SQLite store in the process shares them; a server has one).
struct WriterMetrics {
  metrics::Histogram batch_size;
  metrics::Histogram commit_seconds;
  metrics::Gauge queue_depth;
  metrics::Histogram checkpoint_pass_seconds;      // the checkpoint thread's passes
  metrics::Histogram checkpoint_catch_up_seconds;  // the writer's short copy after them
};

const WriterMetrics& Metrics() {
  static const WriterMetrics m = [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    const metrics::HistogramFamily& checkpoints = r.AddHistogram(
        "tessera_sqlite_checkpoint_duration_seconds",
        "Time to copy the write-ahead log into the database file, with its fsync: a pass of the "
        "checkpoint thread (stage=\"pass\"), or the writer's copy of what was committed during "
        "the passes (stage=\"catch_up\"), which holds up the writes queued behind it.",
        {{"stage", {"pass", "catch_up"}}}, metrics::LatencyBuckets());
    return WriterMetrics{
        r.AddHistogram("tessera_sqlite_writer_batch_size",
                       "Writes committed together in one SQLite transaction (group commit).", {},
                       {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
            .At(0),
        r.AddHistogram("tessera_sqlite_writer_commit_duration_seconds",
                       "Time to run one group-commit batch: BEGIN, every write, COMMIT.", {},
                       metrics::LatencyBuckets())
            .At(0),
        r.AddGauge("tessera_sqlite_writer_queue_depth",
                   "Writes waiting for the SQLite writer thread's next batch.")
            .At(0),
        checkpoints.At(0), checkpoints.At(1)};
  }();
  return m;
}

}  // namespace

GroupCommitWriter::GroupCommitWriter() = default;
GroupCommitWriter::~GroupCommitWriter() { Stop(); }

Status GroupCommitWriter::Start(std::unique_ptr<Connection> connection,
                                std::unique_ptr<Connection> checkpointer,
                                const SqliteStoreOptions& options) {
  connection_ = std::move(connection);
  checkpointer_ = std::move(checkpointer);
  checkpoint_pages_ = options.checkpoint_pages;
  light_load_checkpoint_pages_ = options.light_load_checkpoint_pages;
  light_load_batches_ = options.light_load_batches;
  light_load_batch_size_ = options.light_load_batch_size;
  // Replaces SQLite's automatic checkpoint (itself a WAL hook): see OnWalCommit.
  sqlite3_wal_hook(connection_->db(), &GroupCommitWriter::OnWalCommit, this);
  try {
    checkpoint_thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ts-sqlite-ckpt");
      CheckpointLoop();
    });
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "ts-sqlite-wr");  // for top -H and perf
      Loop();
    });
  } catch (const std::system_error& e) {
    return InternalError(std::string("cannot start the SQLite writer thread: ") + e.what());
  }
  return OkStatus();
}

Status GroupCommitWriter::Run(const Body& body) {
  Pending pending{&body, OkStatus(), {}, {}, log::CurrentRequestId()};
  std::shared_ptr<BatchSignal> signal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return UnavailableError("the store is closing");
    queue_.push_back(&pending);
    Metrics().queue_depth.Add(1);
    signal = open_signal_;
  }
  cv_.notify_one();
  std::unique_lock<std::mutex> lock(signal->mu);
  signal->cv.wait(lock, [&] { return signal->done; });
  return std::move(pending.status);
}

void GroupCommitWriter::RunAsync(Body body, Done done) {
  auto pending = std::make_unique<Pending>();
  pending->owned_body = std::move(body);
  pending->body = &pending->owned_body;
  pending->done = std::move(done);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      Metrics().queue_depth.Add(1);
      queue_.push_back(pending.release());
      pending = nullptr;
    }
  }
  if (pending != nullptr) {
    pending->done(UnavailableError("the store is closing"));
    return;
  }
  cv_.notify_one();
}

void GroupCommitWriter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // After the writer: a checkpoint it requested still runs.
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    checkpointer_stopping_ = true;
  }
  checkpoint_cv_.notify_one();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
}

// After each commit, on the writer thread, in place of SQLite's automatic checkpoint: the
// log is to be copied into the database file once it holds checkpoint_pages_ pages, or
// light_load_checkpoint_pages_ under light load (RunBatch counts the small batches). Small
// batches in a row mean the writer keeps up with the requests, so copying now costs little;
// under heavy load copying rarely saves the most work: at 5,000 refreshes/s on one core p99 fell
// from 36-41 ms to 12-15 ms, at saturation CPU per refresh stayed within noise.
// The hook only notes the checkpoint: Loop asks the checkpoint thread for it once the batch has
// been acknowledged (SQLite's own hook would copy inside the COMMIT).
int GroupCommitWriter::OnWalCommit(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
  auto* writer = static_cast<GroupCommitWriter*>(self);
  // Counted from what the last catch-up copied: when a reader still held an older snapshot at
  // the commit after it, SQLite appended to the log instead of restarting it, and the copied
  // pages are no reason for another checkpoint (half the checkpoints were such, in the soak).
  if (pages < writer->copied_pages_) writer->copied_pages_ = 0;  // the log restarted
  const int uncopied = pages - writer->copied_pages_;
  const bool light_load = writer->small_batches_in_a_row_ >= writer->light_load_batches_;
  if (uncopied >= writer->checkpoint_pages_ ||
      (light_load && uncopied >= writer->light_load_checkpoint_pages_)) {
    writer->checkpoint_due_ = true;
  }
  return SQLITE_OK;
}

// On the writer thread. A request while the checkpoint thread is busy folds into its passes.
void GroupCommitWriter::RequestCheckpoint() {
  {
    std::lock_guard<std::mutex> lock(checkpoint_mu_);
    if (checkpoint_requested_) return;
    checkpoint_requested_ = true;
  }
  checkpoint_cv_.notify_one();
}

namespace {

// A PASSIVE checkpoint on `db`: copies what no reader still needs and never waits for readers
// or the writer. Returns the log's pages and how many of them are copied (SQLite's counts).
struct CheckpointCounts {
  int log_pages = 0;
  int copied_pages = 0;
};
CheckpointCounts PassiveCheckpoint(sqlite3* db, const metrics::Histogram& seconds) {
  const auto began = std::chrono::steady_clock::now();
  CheckpointCounts counts;
  const int rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &counts.log_pages,
                                           &counts.copied_pages);
  seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  // On an error (SQLITE_BUSY: another checkpoint runs; an I/O error) nothing is owed here: the
  // next commit over the threshold asks again.
  return rc == SQLITE_OK ? counts : CheckpointCounts{};
}

}  // namespace

// The checkpoint thread: each request is one to a few passes, the next pass copying what the
// writer committed during the last, until what is left is small enough for the writer to copy
// without holding up its queue (CatchUp).
void GroupCommitWriter::CheckpointLoop() {
  constexpr int kMaxPasses = 4;
  constexpr int kCatchUpPages = 128;
  std::unique_lock<std::mutex> lock(checkpoint_mu_);
  while (true) {
    checkpoint_cv_.wait(lock, [this] { return checkpoint_requested_ || checkpointer_stopping_; });
    if (!checkpoint_requested_) return;
    lock.unlock();
    for (int passes = 0; passes < kMaxPasses; ++passes) {
      const CheckpointCounts pass =
          PassiveCheckpoint(checkpointer_->db(), Metrics().checkpoint_pass_seconds);
      if (pass.log_pages - pass.copied_pages <= kCatchUpPages) {
        break;
      }
    }
    catch_up_due_.store(true, std::memory_order_release);
    lock.lock();
    checkpoint_requested_ = false;
  }
}

// On the writer thread, between batches: copies what was committed during the checkpoint
// thread's passes. With no commit in between, the log is then wholly in the database file, and
// SQLite restarts it from its beginning at the next commit; it cannot while the writer keeps
// appending to it during the thread's passes.
void GroupCommitWriter::CatchUp() {
  copied_pages_ =
      PassiveCheckpoint(connection_->db(), Metrics().checkpoint_catch_up_seconds).copied_pages;
}

void GroupCommitWriter::Loop() {
  std::vector<Pending*> batch;
  while (true) {
    std::shared_ptr<BatchSignal> signal;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to write
      // The whole queue: at most one entry per blocked caller, plus the asynchronous ones,
      // which the callers' own limits bound (one request per connection in flight).
      batch.swap(queue_);
      queue_.clear();
      signal = std::exchange(open_signal_, std::make_shared<BatchSignal>());
      Metrics().queue_depth.Add(-static_cast<double>(batch.size()));
    }
    const auto began = std::chrono::steady_clock::now();
    RunBatch(batch);
    Metrics().commit_seconds.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    Metrics().batch_size.Observe(static_cast<double>(batch.size()));
    for (Pending* p : batch) {
      if (!p->done) continue;
      std::unique_ptr<Pending> owned(p);
      log::ScopedRequestId request(owned->request_id);
      try {
        owned->done(std::move(owned->status));
      } catch (const std::exception& e) {
        // Keep the writer alive: the caller's completion is its own to get right.
        log::Write(log::Level::kError,
                   std::string("sqlite writer: a completion threw: ") + e.what());
      }
    }
    {
      std::lock_guard<std::mutex> lock(signal->mu);
      signal->done = true;
    }
    signal->cv.notify_all();
    if (std::exchange(checkpoint_due_, false)) RequestCheckpoint();
    if (catch_up_due_.exchange(false, std::memory_order_acquire)) CatchUp();
  }
}

void GroupCommitWriter::RunBatch(const std::vector<Pending*>& batch) {
  Connection& c = *connection_;
  Transaction txn(c);
  Status begin = txn.BeginImmediate();
  if (!begin.ok()) {
    for (Pending* p : batch) p->status = begin;
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending* p = batch[i];
    Status savepoint = c.Run("SAVEPOINT body");
    {
      log::ScopedRequestId request(p->request_id);
      p->status = savepoint.ok() ? (*p->body)(c) : savepoint;
    }
    if (sqlite3_get_autocommit(c.db()) != 0) {
      // SQLite rolled the whole transaction back on its own (I/O error, disk full, ...): the
      // bodies before this one are undone too and must not be acknowledged.
      Status lost =
          UnavailableError("the write was rolled back: " +
                           std::string(p->status.ok() ? "transaction ended" : p->status.message()));
      for (size_t j = 0; j < batch.size(); ++j) {
        if (j != i || p->status.ok()) batch[j]->status = lost;
      }
      return;
    }
    if (p->status.ok()) {
      p->status = c.Run("RELEASE body");
    } else {
      // Undo this body's changes alone; the batch goes on.
      Status undo = c.Run("ROLLBACK TO body");
      if (undo.ok()) undo = c.Run("RELEASE body");
      if (!undo.ok()) {
        for (Pending* q : batch) q->status = undo;
        return;
      }
    }
  }
  // For OnWalCommit.
  if (static_cast<int>(batch.size()) <= light_load_batch_size_) {
    ++small_batches_in_a_row_;
  } else {
    small_batches_in_a_row_ = 0;
  }
  Status commit = txn.Commit();
  if (!commit.ok()) {
    // Nothing of the batch is on disk (disk full, I/O error): Unavailable, as when SQLite rolls
    // the transaction back by itself above; the SDKs retry it.
    Status lost = UnavailableError("the write was not committed: " + std::string(commit.message()));
    for (Pending* p : batch) {
      if (p->status.ok()) p->status = lost;
    }
  }
}

}  // namespace ts::storage::sqlite_internal
