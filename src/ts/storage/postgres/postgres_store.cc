// File: postgres_store.cc
// PostgresStore itself: the connection pool (Impl), opening the store (migrations included), and
// the InstanceStore methods. Each other aggregate's methods have a file of their own.
#include "ts/storage/postgres/postgres_store.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "ts/common/metrics.h"
#include "ts/common/status_macros.h"
#include "ts/storage/postgres/group_commit_writer.h"
#include "ts/storage/postgres/postgres_internal.h"

namespace ts::storage {

bool IsPostgresUrl(const std::string& db) {
  return db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0;
}

using postgres_internal::ApplyMigrations;
using postgres_internal::Connection;
using postgres_internal::MakeParams;
using postgres_internal::Result;

namespace {

// The connection pool's metrics, kept at its edges (Acquire, Release): every PostgreSQL store in
// the process shares them; a server has one.
struct PoolMetrics {
  metrics::Gauge in_use;
  metrics::Gauge waiting;
  metrics::Histogram acquire_seconds;
  metrics::Counter acquire_timeouts;
};

const PoolMetrics& Pool() {
  static const PoolMetrics m = [] {
    metrics::Registry& r = metrics::DefaultRegistry();
    return PoolMetrics{
        r.AddGauge("tessera_postgres_pool_connections_in_use",
                   "PostgreSQL connections checked out of the pool.")
            .At(0),
        r.AddGauge("tessera_postgres_pool_waiting",
                   "Callers waiting for a PostgreSQL connection to become free.")
            .At(0),
        r.AddHistogram("tessera_postgres_pool_acquire_duration_seconds",
                       "Time to check a connection out of the pool (a new connection included).",
                       {}, metrics::LatencyBuckets())
            .At(0),
        r.AddCounter("tessera_postgres_pool_acquire_timeouts_total",
                     "Callers that found no free PostgreSQL connection in time.")
            .At(0)};
  }();
  return m;
}

}  // namespace

PostgresStore::Impl::Impl(std::string url, PostgresStoreOptions options)
    : url_(std::move(url)), options_(options) {
  postgres_internal::GroupCommitWriter::Options writer_options;
  writer_options.max_batch = options_.writer_max_batch;
  // The writer's own connection, outside the pool (and its limit): one per node.
  writer_ = std::make_unique<postgres_internal::GroupCommitWriter>(
      [this] { return Connection::Open(url_, options_, &round_trips_); }, writer_options);
}

PostgresStore::Impl::~Impl() = default;

StatusOr<PostgresStore::Impl::Lease> PostgresStore::Impl::Acquire() {
  const auto began = std::chrono::steady_clock::now();
  StatusOr<Lease> lease = AcquireUnmeasured();
  Pool().acquire_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
  if (lease.ok()) Pool().in_use.Add(1);
  return lease;
}

StatusOr<PostgresStore::Impl::Lease> PostgresStore::Impl::AcquireUnmeasured() {
  std::unique_lock lock(mu_);
  while (true) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> connection = std::move(idle_.back());
      idle_.pop_back();
      if (connection->LooksAlive()) return Lease(this, std::move(connection));
      // Closed by the server while idle: nothing was sent on it, so dropping it is safe.
      --open_;
      DropIdleLocked();
    }
    if (open_ < options_.max_connections) break;
    Pool().waiting.Add(1);
    const bool available = available_.wait_for(lock, options_.acquire_timeout, [&] {
      return !idle_.empty() || open_ < options_.max_connections;
    });
    Pool().waiting.Add(-1);
    if (!available) {
      Pool().acquire_timeouts.Inc();
      return UnavailableError("no PostgreSQL connection became free within " +
                              std::to_string(options_.acquire_timeout.count()) + " ms");
    }
  }
  ++open_;
  lock.unlock();
  auto connection = Connection::Open(url_, options_, &round_trips_);
  if (!connection.ok()) {
    lock.lock();
    --open_;
    available_.notify_one();
    return connection.status();
  }
  return Lease(this, std::move(*connection));
}

void PostgresStore::Impl::Release(std::unique_ptr<Connection> connection) {
  Pool().in_use.Add(-1);
  std::lock_guard lock(mu_);
  if (connection->broken()) {
    --open_;
    // The server probably went away for every connection (restart, failover): drop the idle
    // ones too, so the next callers connect afresh instead of each finding a dead socket.
    DropIdleLocked();
  } else {
    idle_.push_back(std::move(connection));
  }
  available_.notify_all();
}

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

int64_t PostgresStore::RoundTrips() const { return impl_->round_trips(); }
PostgresStore::~PostgresStore() = default;

StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(const std::string& url) {
  return Open(url, PostgresStoreOptions());
}

StatusOr<std::shared_ptr<PostgresStore>> PostgresStore::Open(const std::string& url,
                                                             const PostgresStoreOptions& options) {
  if (!IsPostgresUrl(url)) {
    return InvalidArgumentError("PostgresStore needs a postgresql:// URL");
  }
  if (options.max_connections < 1) return InvalidArgumentError("max_connections must be >= 1");
  if (options.writer_max_batch < 1) return InvalidArgumentError("writer_max_batch must be >= 1");
  auto impl = std::make_unique<Impl>(url, options);
  {
    TS_ASSIGN_OR_RETURN(Impl::Lease lease, impl->Acquire());
    TS_RETURN_IF_ERROR(ApplyMigrations(*lease));
  }
  return std::shared_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

// --- instance ---

Status PostgresStore::PutInstance(const Instance& instance) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO instance (singleton, instance_arn, instance_id, identity_store_id, "
            "owner_account_id, region, name, created_at) VALUES (1, $1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (singleton) DO UPDATE SET instance_arn = excluded.instance_arn, "
            "instance_id = excluded.instance_id, identity_store_id = excluded.identity_store_id, "
            "owner_account_id = excluded.owner_account_id, region = excluded.region, "
            "name = excluded.name, created_at = excluded.created_at",
            MakeParams(instance.instance_arn, instance.instance_id, instance.identity_store_id,
                       instance.owner_account_id, instance.region, instance.name,
                       instance.created_at))
        .status();
  });
}

StatusOr<Instance> PostgresStore::GetInstance() {
  return impl_->Read([&](Connection& c) -> StatusOr<Instance> {
    TS_ASSIGN_OR_RETURN(
        Result r, c.Exec("SELECT instance_arn, instance_id, identity_store_id, owner_account_id, "
                         "region, name, created_at FROM instance WHERE singleton = 1"));
    if (r.rows() == 0) return NotFoundError("no instance has been stored");
    Instance i;
    i.instance_arn = r.Text(0, 0);
    i.instance_id = r.Text(0, 1);
    i.identity_store_id = r.Text(0, 2);
    i.owner_account_id = r.Text(0, 3);
    i.region = r.Text(0, 4);
    i.name = r.Text(0, 5);
    i.created_at = r.Int(0, 6);
    return i;
  });
}

// --- meta ---

Status PostgresStore::PutMeta(const std::string& key, const std::string& value) {
  return impl_->Single([&](Connection& c) -> Status {
    return c
        .Exec(
            "INSERT INTO meta (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            MakeParams(key, value))
        .status();
  });
}

StatusOr<std::string> PostgresStore::GetMeta(const std::string& key) {
  return impl_->Read([&](Connection& c) -> StatusOr<std::string> {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("SELECT value FROM meta WHERE key = $1", MakeParams(key)));
    if (r.rows() == 0) return NotFoundError("no such meta key: " + key);
    return r.Text(0, 0);
  });
}

Status PostgresStore::CreateMeta(const std::string& key, const std::string& value) {
  return impl_->Single([&](Connection& c) -> Status {
    TS_ASSIGN_OR_RETURN(Result r, c.Exec("INSERT INTO meta (key, value) VALUES ($1, $2) "
                                         "ON CONFLICT (key) DO NOTHING",
                                         MakeParams(key, value)));
    if (r.affected() == 0) return AlreadyExistsError("meta key already exists: " + key);
    return OkStatus();
  });
}

}  // namespace ts::storage
