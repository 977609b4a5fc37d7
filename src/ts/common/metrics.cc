// File: metrics.cc
#include "ts/common/metrics.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ts::metrics {
namespace {

constexpr size_t kLine = 64 / sizeof(uint64_t);  // cells per cache line

// Rounds up to whole cache lines, so that shards never share one.
size_t PadToLine(size_t cells) { return (cells + kLine - 1) / kLine * kLine; }

[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

bool ValidName(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon_allowed && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::atomic<size_t> next_shard{0};
thread_local size_t this_thread_shard = kShards;  // kShards: not assigned yet

}  // namespace

namespace internal {
size_t ThisThreadShard() noexcept {
  size_t shard = this_thread_shard;
  if (shard == kShards) [[unlikely]] {
    shard = next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
    this_thread_shard = shard;
  }
  return shard;
}
}  // namespace internal

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // Shortest round-trip form: 0.0001 stays 0.0001, 3 stays 3.
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general);
  if (ec != std::errc()) return "NaN";
  return std::string(buf, end);
}

std::vector<double> LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

// --- Counter / Histogram reads ---

uint64_t Counter::Value() const noexcept {
  if (cell_ == nullptr) return 0;
  uint64_t total = 0;
  for (size_t s = 0; s < kShards; ++s) total += cell_[s * stride_].load(std::memory_order_relaxed);
  return total;
}

void Histogram::Observe(double v) const noexcept {
  if (cells_ == nullptr) return;
  const std::vector<double>& bounds = *bounds_;
  size_t bucket = 0;
  while (bucket < bounds.size() && v > bounds[bucket]) ++bucket;  // le: v <= bound
  std::atomic<uint64_t>* shard = cells_ + internal::ThisThreadShard() * stride_;
  shard[bucket].fetch_add(1, std::memory_order_relaxed);
  // The sum as double bits: only this shard's threads add to it, so the loop rarely retries.
  std::atomic<uint64_t>& sum = shard[bounds.size() + 1];
  uint64_t old = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(old, std::bit_cast<uint64_t>(std::bit_cast<double>(old) + v),
                                    std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snap;
  if (cells_ == nullptr) return snap;
  const size_t buckets = bounds_->size() + 1;
  snap.cumulative.assign(buckets, 0);
  for (size_t s = 0; s < kShards; ++s) {
    const std::atomic<uint64_t>* shard = cells_ + s * stride_;
    for (size_t b = 0; b < buckets; ++b) {
      snap.cumulative[b] += shard[b].load(std::memory_order_relaxed);
    }
    snap.sum += std::bit_cast<double>(shard[buckets].load(std::memory_order_relaxed));
  }
  for (size_t b = 1; b < buckets; ++b) snap.cumulative[b] += snap.cumulative[b - 1];
  snap.count = snap.cumulative.back();
  return snap;
}

// --- Family ---

Label::Label(std::string name, std::vector<std::string> values) : names{std::move(name)} {
  rows.reserve(values.size());
  for (std::string& v : values) rows.push_back({std::move(v)});
}

Label Label::Joint(std::vector<std::string> names, std::vector<std::vector<std::string>> rows) {
  Label l;
  if (names.empty()) Misuse("a joint label without names");
  l.names = std::move(names);
  l.rows = std::move(rows);
  return l;
}

Family::Family(std::string name, std::string help, std::vector<Label> labels)
    : name_(std::move(name)), help_(std::move(help)), labels_(std::move(labels)) {
  if (!ValidName(name_, true)) Misuse("invalid metric name '" + name_ + "'");
  for (const Label& l : labels_) {
    for (const std::string& n : l.names) {
      if (!ValidName(n, false) || n == "le" || n.starts_with("__")) {
        Misuse(name_ + ": invalid label name '" + n + "'");
      }
    }
    if (l.rows.empty()) Misuse(name_ + ": label '" + l.names.front() + "' has no values");
    for (const auto& row : l.rows) {
      if (row.size() != l.names.size()) Misuse(name_ + ": a joint label row of the wrong size");
    }
    size_ *= l.rows.size();
  }
}

size_t Family::Index(std::initializer_list<size_t> indexes) const {
  if (indexes.size() != labels_.size()) return size_;
  size_t flat = 0;
  size_t k = 0;
  for (size_t i : indexes) {
    if (i >= labels_[k].rows.size()) return size_;
    flat = flat * labels_[k].rows.size() + i;
    ++k;
  }
  return flat;
}

size_t Family::ValueIndex(size_t label, std::string_view value) const {
  if (label >= labels_.size()) return std::string::npos;
  const auto& rows = labels_[label].rows;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].front() == value) return i;
  }
  return std::string::npos;
}

std::string Family::LabelText(size_t index) const {
  if (labels_.empty()) return "";
  // The last label varies fastest (Index's order).
  std::vector<size_t> value_of(labels_.size());
  for (size_t k = labels_.size(); k-- > 0;) {
    value_of[k] = index % labels_[k].rows.size();
    index /= labels_[k].rows.size();
  }
  std::string out = "{";
  for (size_t k = 0; k < labels_.size(); ++k) {
    const std::vector<std::string>& row = labels_[k].rows[value_of[k]];
    for (size_t n = 0; n < row.size(); ++n) {
      if (out.size() > 1) out += ',';
      out += labels_[k].names[n];
      out += "=\"";
      out += EscapeLabelValue(row[n]);
      out += '"';
    }
  }
  return out;
}

void Family::Header(std::string& out, std::string_view type) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += EscapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += type;
  out += '\n';
}

namespace {
void Sample(std::string& out, std::string_view name, const std::string& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += labels;
    out += '}';
  }
  out += ' ';
  out += FormatValue(value);
  out += '\n';
}
}  // namespace

// --- CounterFamily ---

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<Label> labels)
    : Family(std::move(name), std::move(help), std::move(labels)),
      stride_(PadToLine(size_)),
      cells_(new std::atomic<uint64_t>[stride_ * kShards]) {
  for (size_t i = 0; i < stride_ * kShards; ++i) cells_[i].store(0, std::memory_order_relaxed);
}

Counter CounterFamily::At(size_t index) const {
  if (index >= size_) return Counter();
  return Counter(&cells_[index], stride_);
}

void CounterFamily::Render(std::string& out) const {
  Header(out, "counter");
  for (size_t i = 0; i < size_; ++i) {
    Sample(out, name_, LabelText(i), static_cast<double>(At(i).Value()));
  }
}

// --- GaugeFamily ---

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<Label> labels)
    : Family(std::move(name), std::move(help), std::move(labels)),
      cells_(new std::atomic<double>[size_]) {
  for (size_t i = 0; i < size_; ++i) cells_[i].store(0, std::memory_order_relaxed);
}

Gauge GaugeFamily::At(size_t index) const {
  if (index >= size_) return Gauge();
  return Gauge(&cells_[index]);
}

void GaugeFamily::Render(std::string& out) const {
  Header(out, "gauge");
  for (size_t i = 0; i < size_; ++i) {
    Sample(out, name_, LabelText(i), cells_[i].load(std::memory_order_relaxed));
  }
}

// --- CallbackGauge ---

CallbackGauge::CallbackGauge(std::string name, std::string help, bool counter)
    : Family(std::move(name), std::move(help), {}), counter_(counter) {}

void CallbackGauge::SetCallback(std::function<double()> read) {
  std::lock_guard lock(mu_);
  read_ = std::move(read);
}

void CallbackGauge::Render(std::string& out) const {
  std::lock_guard lock(mu_);
  if (!read_) return;
  Header(out, counter_ ? "counter" : "gauge");
  Sample(out, name_, "", read_());
}

// --- HistogramFamily ---

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<Label> labels,
                                 std::vector<double> bounds)
    : Family(std::move(name), std::move(help), std::move(labels)),
      bounds_(std::move(bounds)),
      per_series_(bounds_.size() + 2),
      stride_(PadToLine(per_series_ * size_)),
      cells_(new std::atomic<uint64_t>[stride_ * kShards]) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) Misuse(name_ + ": bucket bounds must increase");
  }
  if (!bounds_.empty() && std::isinf(bounds_.back())) Misuse(name_ + ": +Inf is implied");
  for (size_t i = 0; i < stride_ * kShards; ++i) cells_[i].store(0, std::memory_order_relaxed);
}

Histogram HistogramFamily::At(size_t index) const {
  if (index >= size_) return Histogram();
  return Histogram(&bounds_, &cells_[index * per_series_], stride_);
}

void HistogramFamily::Render(std::string& out) const {
  Header(out, "histogram");
  const std::string bucket = name_ + "_bucket";
  for (size_t i = 0; i < size_; ++i) {
    const Histogram::Snapshot snap = At(i).Read();
    const std::string labels = LabelText(i);
    const std::string open = labels.empty() ? "{" : labels + ",";
    for (size_t b = 0; b <= bounds_.size(); ++b) {
      out += bucket;
      out += open;
      out += "le=\"";
      out += b < bounds_.size() ? FormatValue(bounds_[b]) : "+Inf";
      out += "\"} ";
      out += FormatValue(static_cast<double>(snap.cumulative[b]));
      out += '\n';
    }
    Sample(out, name_ + "_sum", labels, snap.sum);
    Sample(out, name_ + "_count", labels, static_cast<double>(snap.count));
  }
}

// --- Registry ---

template <typename F, typename... Args>
F& Registry::Add(std::string name, Args&&... args) {
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == name) Misuse("metric '" + name + "' registered twice");
  }
  auto family = std::make_unique<F>(std::move(name), std::forward<Args>(args)...);
  F& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

CounterFamily& Registry::AddCounter(std::string name, std::string help, std::vector<Label> labels) {
  return Add<CounterFamily>(std::move(name), std::move(help), std::move(labels));
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help, std::vector<Label> labels) {
  return Add<GaugeFamily>(std::move(name), std::move(help), std::move(labels));
}

CallbackGauge& Registry::AddCallbackGauge(std::string name, std::string help) {
  return Add<CallbackGauge>(std::move(name), std::move(help));
}

CallbackGauge& Registry::AddCallbackCounter(std::string name, std::string help) {
  return Add<CallbackGauge>(std::move(name), std::move(help), true);
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<Label> labels, std::vector<double> bounds) {
  return Add<HistogramFamily>(std::move(name), std::move(help), std::move(labels),
                              std::move(bounds));
}

Family* Registry::Find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& f : families_) {
    if (f->name() == name) return f.get();
  }
  return nullptr;
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& f : families_) f->Render(out);
  return out;
}

Registry& DefaultRegistry() {
  static Registry* registry = new Registry();  // never destroyed: handles outlive main()
  return *registry;
}

}  // namespace ts::metrics
