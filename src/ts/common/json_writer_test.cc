#include "ts/common/json_writer.h"

#include <gtest/gtest.h>

namespace ts {
namespace {

TEST(JsonWriterTest, NestedContainersAndSeparators) {
  JsonWriter w;
  w.BeginObject();
  w.Member("a", "x");
  w.Member("n", int64_t{-42});
  w.Member("list", std::vector<std::string>{"p", "q"});
  w.Key("o");
  w.BeginObject();
  w.MemberBool("t", true);
  w.Key("z");
  w.Null();
  w.EndObject();
  w.Key("empty");
  w.BeginArray();
  w.EndArray();
  w.EndObject();
  EXPECT_EQ(w.Take(), R"({"a":"x","n":-42,"list":["p","q"],"o":{"t":true,"z":null},"empty":[]})");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  JsonWriter w;
  w.String(std::string_view("q\"b\\n\n\x01\xc3\xa9", 9));
  EXPECT_EQ(w.Take(), "\"q\\\"b\\\\n\\n\\u0001\xc3\xa9\"");
}

}  // namespace
}  // namespace ts
