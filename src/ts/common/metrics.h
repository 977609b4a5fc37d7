// File: metrics.h
// Counters, gauges and histograms for Prometheus (text exposition format 0.0.4), built for the
// request path: an update is one relaxed atomic add on a shard of its own thread, with no lock,
// no allocation and no string work. Every label combination is declared when its family is
// registered (the cross product of each label's values), and code resolves the combination it
// updates to a handle once, at start-up (Family::At), so label cardinality is fixed by the code:
// no request can add a series (docs/design/metrics.md).
//
// Thread-safety: updates and Value() are lock-free and may race freely with each other and with
// Render(). Registration and Render() take the registry's lock. Families live as long as their
// registry; handles are plain pointers into them.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ts::metrics {

// Updates go to one of kShards slots chosen by the updating thread, so threads on different
// cores rarely write the same cache line; a read sums the slots.
inline constexpr size_t kShards = 8;

namespace internal {
// The calling thread's shard, assigned round robin on its first update.
size_t ThisThreadShard() noexcept;
}  // namespace internal

// A label's name and the values it may take, e.g. {"outcome", {"success", "failure"}}; or, made
// by Joint, labels that vary together (an API and its operations): one row of values per series.
struct Label {
  Label(std::string name, std::vector<std::string> values);
  static Label Joint(std::vector<std::string> names, std::vector<std::vector<std::string>> rows);
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> rows;  // one value per name each

 private:
  Label() = default;
};

// A monotonically increasing count (one series of a CounterFamily).
class Counter {
 public:
  Counter() = default;  // a null handle: Inc does nothing (an unregistered combination)
  void Inc(uint64_t n = 1) const noexcept {
    if (cell_ != nullptr) {
      cell_[internal::ThisThreadShard() * stride_].fetch_add(n, std::memory_order_relaxed);
    }
  }
  uint64_t Value() const noexcept;

 private:
  friend class CounterFamily;
  Counter(std::atomic<uint64_t>* cell, size_t stride) : cell_(cell), stride_(stride) {}
  std::atomic<uint64_t>* cell_ = nullptr;
  size_t stride_ = 0;
};

// A value that goes up and down (one series of a GaugeFamily). Not sharded: gauges are set
// where their state changes, which is already serialized (a queue under its lock).
class Gauge {
 public:
  Gauge() = default;
  void Set(double v) const noexcept {
    if (cell_ != nullptr) cell_->store(v, std::memory_order_relaxed);
  }
  void Add(double v) const noexcept {
    if (cell_ != nullptr) cell_->fetch_add(v, std::memory_order_relaxed);
  }
  double Value() const noexcept {
    return cell_ != nullptr ? cell_->load(std::memory_order_relaxed) : 0;
  }

 private:
  friend class GaugeFamily;
  explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_ = nullptr;
};

// Observations counted into fixed buckets (one series of a HistogramFamily).
class Histogram {
 public:
  Histogram() = default;
  void Observe(double v) const noexcept;
  // Cumulative counts per upper bound (the last is +Inf), the sum and the count, as exposed.
  struct Snapshot {
    std::vector<uint64_t> cumulative;
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  friend class HistogramFamily;
  Histogram(const std::vector<double>* bounds, std::atomic<uint64_t>* cells, size_t stride)
      : bounds_(bounds), cells_(cells), stride_(stride) {}
  const std::vector<double>* bounds_ = nullptr;
  // Per shard: one count per bucket (+Inf last, not cumulative), then the sum (double bits).
  std::atomic<uint64_t>* cells_ = nullptr;
  size_t stride_ = 0;
};

// What every family shares: name, help, labels and the flat index of a label combination.
class Family {
 public:
  Family(std::string name, std::string help, std::vector<Label> labels);
  virtual ~Family() = default;
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  const std::string& name() const { return name_; }
  // The number of series: the product of the labels' value counts (1 without labels).
  size_t size() const { return size_; }
  // The flat index of the combination whose k-th label takes its values()[indexes[k]]. Out of
  // range (a wrong count or index): size(), which At() turns into a null handle.
  size_t Index(std::initializer_list<size_t> indexes) const;
  // The index of `value` among label `label`'s values (its first name's, for a joint label);
  // npos if absent.
  size_t ValueIndex(size_t label, std::string_view value) const;
  // Appends the family's exposition (# HELP, # TYPE and its samples) to `out`.
  virtual void Render(std::string& out) const = 0;

 protected:
  // `{a="x",b="y"` for the series `index` (without the closing brace, so that a histogram can
  // add le=""), or "" without labels.
  std::string LabelText(size_t index) const;
  void Header(std::string& out, std::string_view type) const;
  std::string name_;
  std::string help_;
  std::vector<Label> labels_;
  size_t size_ = 1;
};

class CounterFamily final : public Family {
 public:
  CounterFamily(std::string name, std::string help, std::vector<Label> labels);
  Counter At(size_t index) const;
  Counter At(std::initializer_list<size_t> indexes) const { return At(Index(indexes)); }
  void Render(std::string& out) const override;

 private:
  size_t stride_;  // cells per shard, a multiple of a cache line
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

class GaugeFamily final : public Family {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<Label> labels);
  Gauge At(size_t index) const;
  Gauge At(std::initializer_list<size_t> indexes) const { return At(Index(indexes)); }
  void Render(std::string& out) const override;

 private:
  std::unique_ptr<std::atomic<double>[]> cells_;
};

// One gauge (no labels) read by calling `read` at every scrape. `read` may be replaced or
// cleared (an instance that goes away); a cleared gauge is not exposed. With `counter`, exposed
// as a counter (a total kept elsewhere, such as the CPU time the kernel counts).
class CallbackGauge final : public Family {
 public:
  CallbackGauge(std::string name, std::string help, bool counter = false);
  void SetCallback(std::function<double()> read);
  void Render(std::string& out) const override;

 private:
  bool counter_;
  mutable std::mutex mu_;
  std::function<double()> read_;
};

class HistogramFamily final : public Family {
 public:
  // `bounds`: the buckets' upper bounds, increasing; +Inf is added.
  HistogramFamily(std::string name, std::string help, std::vector<Label> labels,
                  std::vector<double> bounds);
  Histogram At(size_t index) const;
  Histogram At(std::initializer_list<size_t> indexes) const { return At(Index(indexes)); }
  void Render(std::string& out) const override;

 private:
  std::vector<double> bounds_;
  size_t per_series_;  // bounds + 1 (+Inf) + 1 (sum)
  size_t stride_;
  std::unique_ptr<std::atomic<uint64_t>[]> cells_;
};

// Latency buckets in seconds from 100 µs to 10 s (1-2.5-5 steps): the token endpoint answers in
// well under a millisecond, a sign-in (password hash) in tens of milliseconds.
std::vector<double> LatencyBuckets();

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Registers a family; names must be unique and valid Prometheus names, label names valid and
  // not `le`, and every label must have at least one value. A bad registration is a programming
  // error, fixed in code: it aborts with a message (every test that starts the server sees it).
  CounterFamily& AddCounter(std::string name, std::string help, std::vector<Label> labels = {});
  GaugeFamily& AddGauge(std::string name, std::string help, std::vector<Label> labels = {});
  CallbackGauge& AddCallbackGauge(std::string name, std::string help);
  CallbackGauge& AddCallbackCounter(std::string name, std::string help);
  HistogramFamily& AddHistogram(std::string name, std::string help, std::vector<Label> labels,
                                std::vector<double> bounds);

  // The registered family named `name`, or null.
  Family* Find(std::string_view name) const;

  // Every family in registration order, in the text exposition format 0.0.4.
  std::string Render() const;

 private:
  template <typename F, typename... Args>
  F& Add(std::string name, Args&&... args);
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<Family>> families_;
};

// The process's registry, which the server exposes at GET /metrics.
Registry& DefaultRegistry();

// Prometheus text escaping: label values escape \, " and newline; help text \ and newline.
std::string EscapeLabelValue(std::string_view value);
std::string EscapeHelp(std::string_view help);
// A sample value as the format writes it: integers without a fraction, +Inf, -Inf, NaN.
std::string FormatValue(double value);

}  // namespace ts::metrics
