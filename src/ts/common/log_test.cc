#include "ts/common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "ts/common/thread_pool.h"

namespace ts::log {
namespace {

namespace json = boost::json;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

// 2024-05-01T12:34:56.789Z
std::chrono::system_clock::time_point SomeTime() {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(1714566896789));
}

// Parses one line as a whole JSON object, failing the test otherwise.
json::object ParseLine(const std::string& line) {
  EXPECT_TRUE(line.ends_with("\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
  json::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << line;
  return v.is_object() ? v.as_object() : json::object();
}

TEST(LogJsonStringTest, EscapesQuotesBackslashAndNamedControls) {
  EXPECT_EQ(Escaped("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(Escaped("\n\r\t\b\f"), R"("\n\r\t\b\f")");
}

TEST(LogJsonStringTest, EscapesEveryOtherControlCharacterAsUnicode) {
  EXPECT_EQ(Escaped(std::string("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Escaped("\x01\x1f\x7f"), R"("\u0001\u001f\u007f")");
  EXPECT_EQ(Escaped("\x1b[31mred"), R"("\u001b[31mred")");  // a terminal escape stays inert
}

TEST(LogJsonStringTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(Escaped("caf\xC3\xA9 \xF0\x9F\x94\x91"), "\"caf\xC3\xA9 \xF0\x9F\x94\x91\"");
  EXPECT_EQ(Escaped("a\xFF"
                    "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(Escaped("\xC0\xAF"), R"("\ufffd\ufffd")");                      // overlong '/'
  EXPECT_EQ(Escaped("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");            // a UTF-16 surrogate
  EXPECT_EQ(Escaped("\xF4\x90\x80\x80"), R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
  EXPECT_EQ(Escaped("\xE2\x82"), R"("\ufffd\ufffd")");                      // truncated at the end
  EXPECT_EQ(Escaped("\xE2\x80\xA8\xE2\x80\xA9"), R"("\u2028\u2029")");
}

TEST(LogJsonStringTest, AnyBytesMakeOneValidJsonString) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  json::error_code ec;
  json::value v = json::parse(Escaped(all + all), ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(v.is_string());
  EXPECT_EQ(Escaped(all).find('\n'), std::string::npos);
}

TEST(LogFormatTest, JsonLineHasTimeLevelMessageRequestIdAndFields) {
  const Field fields[] = {{"method", "POST"},
                          {"status", 400},
                          {"duration_ms", std::chrono::microseconds(1234)},
                          {"path", "/to\"ken\n"}};
  const std::string line =
      FormatLine(Format::kJson, Level::kWarning, SomeTime(), "req-1", "a \"msg\"\n", fields);
  json::object o = ParseLine(line);
  EXPECT_EQ(o.at("time"), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(o.at("level"), "warn");
  EXPECT_EQ(o.at("msg"), "a \"msg\"\n");
  EXPECT_EQ(o.at("request_id"), "req-1");
  EXPECT_EQ(o.at("method"), "POST");
  EXPECT_EQ(o.at("status"), 400);
  EXPECT_EQ(o.at("duration_ms").as_double(), 1.234);
  EXPECT_EQ(o.at("path"), "/to\"ken\n");
  // The member order is fixed: time first, for readers that sort lines as text.
  EXPECT_TRUE(line.starts_with("{\"time\":\"2024-05-01T12:34:56.789Z\",\"level\":\"warn\""));
}

TEST(LogFormatTest, JsonLineWithoutRequestLeavesTheIdAndEmptyFieldsOut) {
  const Field fields[] = {{"error_type", ""}, {"status", 0}};
  json::object o = ParseLine(FormatLine(Format::kJson, Level::kError, SomeTime(), "", "x", fields));
  EXPECT_FALSE(o.contains("request_id"));
  EXPECT_FALSE(o.contains("error_type"));
  EXPECT_EQ(o.at("status"), 0);
  EXPECT_EQ(o.at("level"), "error");
}

TEST(LogFormatTest, TimeIsUtcWithMillisecondsAtEveryBoundary) {
  using std::chrono::milliseconds;
  auto at = [](int64_t ms) {
    return ParseLine(FormatLine(Format::kJson, Level::kInfo,
                                std::chrono::system_clock::time_point(milliseconds(ms)), "", "",
                                {}))
        .at("time");
  };
  EXPECT_EQ(at(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(at(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(at(951782400999), "2000-02-29T00:00:00.999Z");
}

TEST(LogFormatTest, DurationsAreMillisecondsWithMicrosecondPrecision) {
  const Field fields[] = {{"a", std::chrono::microseconds(0)},
                          {"b", std::chrono::microseconds(7)},
                          {"c", std::chrono::microseconds(12345678)}};
  const std::string line = FormatLine(Format::kJson, Level::kInfo, SomeTime(), "", "", fields);
  EXPECT_THAT(line, HasSubstr(R"("a":0.000,"b":0.007,"c":12345.678)"));
}

TEST(LogFormatTest, TextLineIsTheSentenceThenTheId) {
  const Field fields[] = {{"status", 200}};
  EXPECT_EQ(FormatLine(Format::kText, Level::kInfo, SomeTime(), "req-2", "http: GET / 200", fields),
            "http: GET / 200 id=req-2\n");
  EXPECT_EQ(FormatLine(Format::kText, Level::kError, SomeTime(), "", "a\nb", {}), "a?b\n");
}

TEST(LogFormatTest, ParseFormatTakesTextAndJsonOnly) {
  Format f = Format::kText;
  EXPECT_TRUE(ParseFormat("json", &f));
  EXPECT_EQ(f, Format::kJson);
  EXPECT_TRUE(ParseFormat("text", &f));
  EXPECT_EQ(f, Format::kText);
  EXPECT_FALSE(ParseFormat("JSON", &f));
  EXPECT_FALSE(ParseFormat("", &f));
}

TEST(LogRequestIdTest, ScopeSetsAndRestoresTheThreadsId) {
  EXPECT_TRUE(CurrentRequestId().empty());
  {
    ScopedRequestId outer("outer");
    EXPECT_EQ(CurrentRequestId().view(), "outer");
    {
      ScopedRequestId inner("inner");
      EXPECT_EQ(CurrentRequestId().view(), "inner");
    }
    EXPECT_EQ(CurrentRequestId().view(), "outer");
    std::string seen_elsewhere = "unset";
    std::thread([&] { seen_elsewhere = std::string(CurrentRequestId().view()); }).join();
    EXPECT_EQ(seen_elsewhere, "");  // a plain thread does not inherit it
  }
  EXPECT_TRUE(CurrentRequestId().empty());
  EXPECT_EQ(RequestId(std::string(100, 'x')).view().size(), RequestId::kMaxSize);
}

TEST(LogRequestIdTest, ThreadPoolTasksRunUnderThePostersId) {
  auto pool = ThreadPool::Create(2);
  ASSERT_TRUE(pool.ok());
  std::string seen, seen_nested, seen_without;
  std::promise<void> done;
  {
    ScopedRequestId scope("req-pool");
    (*pool)->Post([&] {
      seen = std::string(CurrentRequestId().view());
      (*pool)->Post([&] {
        seen_nested = std::string(CurrentRequestId().view());
        done.set_value();
      });
    });
  }
  done.get_future().wait();
  std::promise<void> done2;
  (*pool)->Post([&] {
    seen_without = std::string(CurrentRequestId().view());
    done2.set_value();
  });
  done2.get_future().wait();
  EXPECT_EQ(seen, "req-pool");
  EXPECT_EQ(seen_nested, "req-pool");
  EXPECT_EQ(seen_without, "");  // and the worker does not keep it for the next task
}

TEST(LogWriteTest, WritesTheCurrentFormatWithTheThreadsId) {
  SetFormat(Format::kJson);
  ::testing::internal::CaptureStderr();
  {
    ScopedRequestId scope("req-write");
    Write(Level::kInfo, "hello", {{"operation", "CreateToken"}});
  }
  std::string out = ::testing::internal::GetCapturedStderr();
  SetFormat(Format::kText);
  json::object o = ParseLine(out);
  EXPECT_EQ(o.at("msg"), "hello");
  EXPECT_EQ(o.at("request_id"), "req-write");
  EXPECT_EQ(o.at("operation"), "CreateToken");
  EXPECT_THAT(out, Not(HasSubstr(" id=")));
}

}  // namespace
}  // namespace ts::log
