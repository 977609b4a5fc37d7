// File: group_commit_writer.cc
// The PostgreSQL backend's group-commit writer (group_commit_writer.h).
#include "ts/storage/postgres/group_commit_writer.h"

#include <algorithm>
#include <future>
#include <utility>

namespace ts::storage::postgres_internal {

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

void GroupCommitWriter::RunAsync(std::string_view sql, Params params, Done done) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Pending{sql, std::move(params), std::move(done)});
  }
  cv_.notify_one();
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
    }
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
  static const std::string kNone;
  StatusOr<Connection*> ready = Ready();
  if (!ready.ok()) {
    for (Pending& p : batch) p.done(ready.status(), kNone, kNone);
    return;
  }
  Connection& c = **ready;
  std::vector<Connection::Pipelined> statements;
  statements.reserve(batch.size());
  for (const Pending& p : batch) statements.push_back({p.sql, &p.params});
  std::vector<Result> results;
  Status error;
  batches_.fetch_add(1, std::memory_order_relaxed);
  switch (c.RunPipelinedTransaction(statements, &results, &error)) {
    case Connection::PipelineOutcome::kCommitted:
      for (size_t i = 0; i < batch.size(); ++i) {
        batch[i].done(std::move(results[i]), kNone, kNone);
      }
      return;
    case Connection::PipelineOutcome::kUnknown: {
      // It may have committed: no retry, and no success claimed.
      const Status unknown = UnavailableError(
          "the PostgreSQL connection broke while a commit was in flight; the write may or may "
          "not have been applied: " +
          std::string(error.message()));
      for (Pending& p : batch) p.done(unknown, kNone, kNone);
      return;
    }
    case Connection::PipelineOutcome::kRolledBack:
      break;
  }
  // Nothing committed. One statement alone fails for itself: give it its error.
  if (batch.size() == 1) {
    const std::string state = c.last_state();
    const std::string table = c.last_table();
    batch[0].done(error, state, table);
    return;
  }
  // Run each on its own, so that only the failing one fails.
  for (Pending& p : batch) {
    StatusOr<Connection*> again = Ready();
    if (!again.ok()) {
      p.done(again.status(), kNone, kNone);
      continue;
    }
    StatusOr<Result> result = (*again)->Exec(p.sql, p.params);
    const std::string state = result.ok() ? kNone : (*again)->last_state();
    const std::string table = result.ok() ? kNone : (*again)->last_table();
    p.done(std::move(result), state, table);
  }
}

}  // namespace ts::storage::postgres_internal
