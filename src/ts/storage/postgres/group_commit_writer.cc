// File: group_commit_writer.cc
// The PostgreSQL backend's group-commit writer (group_commit_writer.h).
#include "ts/storage/postgres/group_commit_writer.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <utility>

#include "ts/common/metrics.h"

namespace ts::storage::postgres_internal {
namespace {

// The writers' metrics (every PostgreSQL store in the process shares them; a server has one
// store, so one writer). The names follow the SQLite writer's.
struct WriterMetrics {
  metrics::Histogram batch_size;
  metrics::Histogram read_seconds;
  metrics::Histogram commit_seconds;
  metrics::Gauge queue_depth;
};

const WriterMetrics& Metrics() {
  static const WriterMetrics m = [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    return WriterMetrics{
        r.AddHistogram("tessera_postgres_writer_batch_size",
                       "Writes (checked or not) taken together by the PostgreSQL group-commit "
                       "writer: one read pipeline and one pipelined transaction.",
                       {}, {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024})
            .At(0),
        r.AddHistogram("tessera_postgres_writer_read_duration_seconds",
                       "Time to run one batch's read pipeline (the checked writes' reads).", {},
                       metrics::LatencyBuckets())
            .At(0),
        r.AddHistogram("tessera_postgres_writer_commit_duration_seconds",
                       "Time to run one batch's pipelined transaction: BEGIN, every write, "
                       "COMMIT.",
                       {}, metrics::LatencyBuckets())
            .At(0),
        r.AddGauge("tessera_postgres_writer_queue_depth",
                   "Writes waiting for the PostgreSQL writer thread's next batch.")
            .At(0)};
  }();
  return m;
}

double SecondsSince(std::chrono::steady_clock::time_point began) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
}

}  // namespace

GroupCommitWriter::GroupCommitWriter(Connect connect, Options options)
    : connect_(std::move(connect)), options_(options) {
  thread_ = std::thread([this] { Loop(); });
}

GroupCommitWriter::~GroupCommitWriter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void GroupCommitWriter::Queue(Pending pending) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(pending));
    Metrics().queue_depth.Add(1);
  }
  cv_.notify_one();
}

void GroupCommitWriter::RunAsync(std::string_view sql, Params params, Done done) {
  Pending pending;
  pending.sql = sql;
  pending.params = std::move(params);
  pending.done = std::move(done);
  Queue(std::move(pending));
}

void GroupCommitWriter::RunCheckedAsync(std::string_view read_sql, Params read_params,
                                        Decide decide, Done done) {
  Pending pending;
  pending.read_sql = read_sql;
  pending.read_params = std::move(read_params);
  pending.decide = std::move(decide);
  pending.done = std::move(done);
  Queue(std::move(pending));
}

StatusOr<Result> GroupCommitWriter::Run(std::string_view sql, Params params) {
  std::promise<StatusOr<Result>> promise;
  RunAsync(sql, std::move(params),
           [&promise](StatusOr<Result> result, const std::string&, const std::string&) {
             promise.set_value(std::move(result));
           });
  return promise.get_future().get();
}

void GroupCommitWriter::Loop() {
  std::vector<Pending> batch;
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      // Stopping flushes: the loop ends only once the queue is empty.
      if (queue_.empty()) return;
      const size_t take = std::min(queue_.size(), static_cast<size_t>(options_.max_batch));
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(take)));
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(take));
      Metrics().queue_depth.Add(-static_cast<double>(take));
    }
    Metrics().batch_size.Observe(static_cast<double>(batch.size()));
    RunBatch(batch);
    batch.clear();
  }
}

StatusOr<Connection*> GroupCommitWriter::Ready() {
  // As the pool does: a connection the server closed while it was idle (a restart) is readable;
  // sending a batch on it would fail with its outcome unknown, so replace it first.
  if (connection_ != nullptr && connection_->LooksAlive()) return connection_.get();
  connection_.reset();
  StatusOr<std::unique_ptr<Connection>> opened = connect_();
  if (!opened.ok()) return opened.status();
  connection_ = std::move(*opened);
  return connection_.get();
}

void GroupCommitWriter::RunBatch(std::vector<Pending>& batch) {
  ReadAndDecide(batch);
  if (!batch.empty()) WriteBatch(batch);
}

void GroupCommitWriter::ReadAndDecide(std::vector<Pending>& batch) {
  std::vector<Connection::Pipelined> reads;
  for (const Pending& p : batch) {
    if (p.decide) reads.push_back({p.read_sql, &p.read_params});
  }
  if (reads.empty()) return;
  const auto began = std::chrono::steady_clock::now();
  std::vector<StatusOr<Result>> results;
  StatusOr<Connection*> ready = Ready();
  if (ready.ok()) {
    (*ready)->RunPipelinedReads(reads, &results);
  } else {
    for (size_t i = 0; i < reads.size(); ++i) results.push_back(ready.status());
  }
  Metrics().read_seconds.Observe(SecondsSince(began));
  // Each decides in queue order; those that answered leave the batch, the others keep their
  // place in it (statements of a batch run in queue order).
  size_t read = 0;
  size_t kept = 0;
  for (size_t i = 0; i < batch.size(); ++i) {
    Pending& p = batch[i];
    if (p.decide) {
      std::optional<Write> write = p.Decided(std::move(results[read++]));
      if (!write.has_value()) continue;
      p.sql = write->sql;
      p.params = std::move(write->params);
    }
    if (kept != i) batch[kept] = std::move(p);
    ++kept;
  }
  batch.erase(batch.begin() + static_cast<ptrdiff_t>(kept), batch.end());
}

void GroupCommitWriter::WriteBatch(std::vector<Pending>& batch) {
  static const std::string kNone;
  StatusOr<Connection*> ready = Ready();
  if (!ready.ok()) {
    for (Pending& p : batch) p.Answer(ready.status(), kNone, kNone);
    return;
  }
  Connection& c = **ready;
  std::vector<Connection::Pipelined> statements;
  statements.reserve(batch.size());
  for (const Pending& p : batch) statements.push_back({p.sql, &p.params});
  std::vector<Result> results;
  Status error;
  batches_.fetch_add(1, std::memory_order_relaxed);
  const auto began = std::chrono::steady_clock::now();
  const Connection::PipelineOutcome outcome =
      c.RunPipelinedTransaction(statements, &results, &error);
  // Before any completion runs: what a caller sees answered is counted.
  Metrics().commit_seconds.Observe(SecondsSince(began));
  switch (outcome) {
    case Connection::PipelineOutcome::kCommitted:
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i].Answer(std::move(results[i]), kNone, kNone);
      }
      return;
    case Connection::PipelineOutcome::kUnknown: {
      // It may have committed: no retry, and no success claimed.
      const Status unknown = UnavailableError(
          "the PostgreSQL connection broke while a commit was in flight; the write may or may "
          "not have been applied: " +
          std::string(error.message()));
      for (Pending& p : batch) p.Answer(unknown, kNone, kNone);
      return;
    }
    case Connection::PipelineOutcome::kRolledBack:
      break;
  }
  // Nothing committed. One statement alone fails for itself: give it its error.
  if (batch.size() == 1) {
    const std::string state = c.last_state();
    const std::string table = c.last_table();
    batch[0].Answer(error, state, table);
    return;
  }
  // Run each on its own, so that only the failing one fails.
  for (Pending& p : batch) {
    StatusOr<Connection*> again = Ready();
    if (!again.ok()) {
      p.Answer(again.status(), kNone, kNone);
      continue;
    }
    StatusOr<Result> result = (*again)->Exec(p.sql, p.params);
    const std::string state = result.ok() ? kNone : (*again)->last_state();
    const std::string table = result.ok() ? kNone : (*again)->last_table();
    p.Answer(std::move(result), state, table);
  }
}

}  // namespace ts::storage::postgres_internal
