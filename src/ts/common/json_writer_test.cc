#include "ts/common/json_writer.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

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

// The escaper scans eight bytes at a time: every byte value, at every offset of long and short
// strings, must come out as a byte-at-a-time escaper writes it.
std::string EscapedOneByteAtATime(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

TEST(JsonWriterTest, EscapesEveryByteAtEveryOffset) {
  for (size_t length : {1, 7, 8, 9, 16, 23, 64}) {
    for (size_t at = 0; at < length; ++at) {
      for (int b = 0; b < 256; ++b) {
        std::string s(length, 'a');
        s[at] = static_cast<char>(b);
        if (at + 3 < length) s[at + 3] = static_cast<char>(255 - b);  // a second one nearby
        JsonWriter w;
        w.String(s);
        ASSERT_EQ(w.Take(), EscapedOneByteAtATime(s))
            << "length " << length << " at " << at << " byte " << b;
      }
    }
  }
  JsonWriter w;
  w.String("");
  EXPECT_EQ(w.Take(), "\"\"");
}

}  // namespace
}  // namespace ts
