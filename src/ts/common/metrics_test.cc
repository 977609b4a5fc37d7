// File: metrics_test.cc
#include "ts/common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <thread>

namespace ts::metrics {
namespace {

using ::testing::HasSubstr;

// A strict reader of the text exposition format 0.0.4, enough to read our own output back:
// every sample line must belong to the family its last # TYPE named.
struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  // "name{a=\"x\"}" (labels as written, in order) -> value
  std::map<std::string, double> samples;
  std::vector<std::string> errors;
};

// Reads a label block `{k="v",...}` starting at text[pos] == '{'; returns the unescaped pairs.
std::vector<std::pair<std::string, std::string>> ReadLabels(const std::string& text, size_t& pos,
                                                            std::vector<std::string>& errors) {
  std::vector<std::pair<std::string, std::string>> out;
  ++pos;  // '{'
  while (pos < text.size() && text[pos] != '}') {
    const size_t eq = text.find('=', pos);
    if (eq == std::string::npos || text[eq + 1] != '"') {
      errors.push_back("bad label in " + text);
      return out;
    }
    std::string name = text.substr(pos, eq - pos);
    std::string value;
    size_t i = eq + 2;
    for (; i < text.size() && text[i] != '"'; ++i) {
      if (text[i] == '\\') {
        ++i;
        value += text[i] == 'n' ? '\n' : text[i];
      } else {
        value += text[i];
      }
    }
    out.emplace_back(name, value);
    pos = i + 1;
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  ++pos;  // '}'
  return out;
}

Parsed Parse(const std::string& exposition) {
  Parsed p;
  std::istringstream in(exposition);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.starts_with("# HELP ")) {
      const size_t sp = line.find(' ', 7);
      p.help[line.substr(7, sp - 7)] = line.substr(sp + 1);
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const size_t sp = line.find(' ', 7);
      family = line.substr(7, sp - 7);
      p.types[family] = line.substr(sp + 1);
      continue;
    }
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    const std::string name = line.substr(0, pos);
    std::string key = name;
    if (pos < line.size() && line[pos] == '{') {
      auto labels = ReadLabels(line, pos, p.errors);
      key += "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        key += (i ? "," : "") + labels[i].first + "=\"" + labels[i].second + "\"";
      }
      key += "}";
    }
    if (pos >= line.size() || line[pos] != ' ') {
      p.errors.push_back("no value: " + line);
      continue;
    }
    const std::string value = line.substr(pos + 1);
    const std::string& type = p.types[family];
    const bool belongs =
        name == family ||
        (type == "histogram" &&
         (name == family + "_bucket" || name == family + "_sum" || name == family + "_count"));
    if (!belongs) p.errors.push_back("sample " + name + " outside its family " + family);
    p.samples[key] = value == "+Inf" ? INFINITY : std::stod(value);
  }
  return p;
}

TEST(MetricsTest, CountersRenderEveryDeclaredCombination) {
  Registry r;
  auto& requests = r.AddCounter("t_requests_total", "Requests.",
                                {{"api", {"sso-oidc", "web"}}, {"outcome", {"ok", "error"}}});
  requests.At({0, 1}).Inc();
  requests.At({1, 0}).Inc(3);
  const Parsed p = Parse(r.Render());
  EXPECT_THAT(p.errors, ::testing::IsEmpty());
  EXPECT_EQ(p.types.at("t_requests_total"), "counter");
  EXPECT_EQ(p.help.at("t_requests_total"), "Requests.");
  EXPECT_EQ(p.samples.size(), 4u);  // every combination, zeros included
  EXPECT_EQ(p.samples.at(R"(t_requests_total{api="sso-oidc",outcome="error"})"), 1);
  EXPECT_EQ(p.samples.at(R"(t_requests_total{api="web",outcome="ok"})"), 3);
  EXPECT_EQ(p.samples.at(R"(t_requests_total{api="web",outcome="error"})"), 0);
}

TEST(MetricsTest, UndeclaredCombinationsAreNullHandles) {
  Registry r;
  auto& c = r.AddCounter("t_total", "x", {{"a", {"1", "2"}}});
  EXPECT_EQ(c.Index({2}), c.size());
  EXPECT_EQ(c.Index({0, 0}), c.size());
  c.At({2}).Inc();  // ignored
  c.At(99).Inc();
  EXPECT_EQ(c.At({0}).Value() + c.At({1}).Value(), 0u);
  EXPECT_EQ(c.ValueIndex(0, "2"), 1u);
  EXPECT_EQ(c.ValueIndex(0, "3"), std::string::npos);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithSumAndCount) {
  Registry r;
  auto& h = r.AddHistogram("t_duration_seconds", "Latency.", {{"op", {"a"}}}, {0.001, 0.01, 1});
  Histogram a = h.At({0});
  a.Observe(0.0005);
  a.Observe(0.001);  // le is inclusive
  a.Observe(0.5);
  a.Observe(7);
  const Parsed p = Parse(r.Render());
  EXPECT_THAT(p.errors, ::testing::IsEmpty());
  EXPECT_EQ(p.types.at("t_duration_seconds"), "histogram");
  EXPECT_EQ(p.samples.at(R"(t_duration_seconds_bucket{op="a",le="0.001"})"), 2);
  EXPECT_EQ(p.samples.at(R"(t_duration_seconds_bucket{op="a",le="0.01"})"), 2);
  EXPECT_EQ(p.samples.at(R"(t_duration_seconds_bucket{op="a",le="1"})"), 3);
  EXPECT_EQ(p.samples.at(R"(t_duration_seconds_bucket{op="a",le="+Inf"})"), 4);
  EXPECT_EQ(p.samples.at(R"(t_duration_seconds_count{op="a"})"), 4);
  EXPECT_DOUBLE_EQ(p.samples.at(R"(t_duration_seconds_sum{op="a"})"), 7.5015);
}

TEST(MetricsTest, JointLabelsListOnlyTheirRows) {
  Registry r;
  auto& c = r.AddCounter(
      "t_total", "x",
      {Label::Joint({"api", "operation"}, {{"sso-oidc", "CreateToken"}, {"web", "SignIn"}}),
       {"class", {"2xx", "4xx"}}});
  EXPECT_EQ(c.size(), 4u);
  c.At({1, 1}).Inc(2);
  const Parsed p = Parse(r.Render());
  EXPECT_THAT(p.errors, ::testing::IsEmpty());
  EXPECT_EQ(p.samples.size(), 4u);
  EXPECT_EQ(p.samples.at(R"(t_total{api="web",operation="SignIn",class="4xx"})"), 2);
  EXPECT_EQ(p.samples.at(R"(t_total{api="sso-oidc",operation="CreateToken",class="2xx"})"), 0);
  EXPECT_EQ(c.ValueIndex(0, "web"), 1u);
}

TEST(MetricsTest, HistogramWithoutLabels) {
  Registry r;
  auto& h = r.AddHistogram("t_batch_size", "Batch.", {}, {1, 2, 4});
  h.At(0).Observe(3);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("t_batch_size_bucket{le=\"4\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("t_batch_size_bucket{le=\"2\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("t_batch_size_sum 3\n"));
  EXPECT_THAT(text, HasSubstr("t_batch_size_count 1\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  Registry r;
  auto& g =
      r.AddGauge("t_info", "Line one\nback\\slash \"quoted\"", {{"v", {"a\"b", "c\\d", "e\nf"}}});
  g.At({0}).Set(1);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP t_info Line one\\nback\\\\slash \"quoted\"\n"));
  EXPECT_THAT(text, HasSubstr("t_info{v=\"a\\\"b\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("t_info{v=\"c\\\\d\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("t_info{v=\"e\\nf\"} 0\n"));
  const Parsed p = Parse(text);
  EXPECT_THAT(p.errors, ::testing::IsEmpty());
  EXPECT_EQ(p.samples.at("t_info{v=\"a\"b\"}"), 1);  // read back unescaped
  EXPECT_EQ(p.samples.count("t_info{v=\"e\nf\"}"), 1u);
}

TEST(MetricsTest, FormatsValues) {
  EXPECT_EQ(FormatValue(3), "3");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(INFINITY), "+Inf");
  EXPECT_EQ(FormatValue(-INFINITY), "-Inf");
  EXPECT_EQ(FormatValue(NAN), "NaN");
  EXPECT_EQ(FormatValue(1e15), "1e+15");
}

TEST(MetricsTest, GaugesSetAndAdd) {
  Registry r;
  auto& g = r.AddGauge("t_depth", "Depth.");
  g.At(0).Add(5);
  g.At(0).Add(-2);
  EXPECT_EQ(g.At(0).Value(), 3);
  g.At(0).Set(-1.5);
  EXPECT_THAT(r.Render(), HasSubstr("t_depth -1.5\n"));
}

TEST(MetricsTest, CallbackGaugeIsReadAtScrapeAndHiddenWhenCleared) {
  Registry r;
  auto& g = r.AddCallbackGauge("t_age_seconds", "Age.");
  EXPECT_EQ(r.Render(), "");
  int calls = 0;
  g.SetCallback([&] { return ++calls * 10.0; });
  EXPECT_THAT(r.Render(), HasSubstr("t_age_seconds 10\n"));
  EXPECT_THAT(r.Render(), HasSubstr("t_age_seconds 20\n"));
  g.SetCallback(nullptr);
  EXPECT_EQ(r.Render(), "");
  r.AddCallbackCounter("t_cpu_seconds_total", "CPU.").SetCallback([] { return 1.5; });
  EXPECT_EQ(r.Render(),
            "# HELP t_cpu_seconds_total CPU.\n# TYPE t_cpu_seconds_total counter\n"
            "t_cpu_seconds_total 1.5\n");
}

TEST(MetricsTest, Find) {
  Registry r;
  auto& c = r.AddCounter("t_a_total", "a");
  EXPECT_EQ(r.Find("t_a_total"), &c);
  EXPECT_EQ(r.Find("t_b_total"), nullptr);
}

TEST(MetricsDeathTest, BadRegistrationsAbort) {
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("t_total", "x");
        r.AddCounter("t_total", "x");
      },
      "registered twice");
  EXPECT_DEATH(Registry().AddCounter("9bad", "x"), "invalid metric name");
  EXPECT_DEATH(Registry().AddCounter("t_total", "x", {{"le", {"1"}}}), "invalid label name");
  EXPECT_DEATH(Registry().AddCounter("t_total", "x", {{"a", {}}}), "has no values");
  EXPECT_DEATH(Registry().AddHistogram("t_h", "x", {}, {2, 1}), "must increase");
}

// Threads on every shard update the same series at once: no update is lost.
TEST(MetricsTest, ConcurrentUpdatesAreAllCounted) {
  Registry r;
  auto& c = r.AddCounter("t_total", "x", {{"k", {"a", "b"}}});
  auto& h = r.AddHistogram("t_h", "x", {}, {0.5});
  constexpr int kThreads = 16;  // more than kShards: shards are shared
  constexpr int kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const Counter mine = c.At({static_cast<size_t>(t % 2)});
      const Histogram hist = h.At(0);
      for (int i = 0; i < kPerThread; ++i) {
        mine.Inc();
        hist.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  // Scrapes while the threads run see consistent, growing totals.
  uint64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    const uint64_t now = c.At({0}).Value() + c.At({1}).Value();
    EXPECT_GE(now, last);
    last = now;
    EXPECT_THAT(Parse(r.Render()).errors, ::testing::IsEmpty());
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.At({0}).Value(), uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(c.At({1}).Value(), uint64_t{kThreads / 2 * kPerThread});
  const Histogram::Snapshot snap = h.At(0).Read();
  EXPECT_EQ(snap.count, uint64_t{kThreads * kPerThread});
  EXPECT_EQ(snap.cumulative[0], uint64_t{kThreads * kPerThread / 2});
  EXPECT_DOUBLE_EQ(snap.sum, kThreads * kPerThread / 2 * 1.25);
}

}  // namespace
}  // namespace ts::metrics
