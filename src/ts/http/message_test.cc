#include "ts/http/message.h"

#include <gtest/gtest.h>

namespace ts::http {
namespace {

TEST(RequestTest, SplitsTargetIntoPathAndQuery) {
  Request r;
  r.target = "/token?aws_iam=t";
  EXPECT_EQ(r.Path(), "/token");
  EXPECT_EQ(r.Query(), "aws_iam=t");
  r.target = "/authorize";
  EXPECT_EQ(r.Query(), "");
}

TEST(ResponseTest, SetHeaderReplacesCaseInsensitively) {
  Response r;
  r.AddHeader("Set-Cookie", "a=1");
  r.AddHeader("Set-Cookie", "b=2");
  r.SetHeader("content-type", "text/html");
  r.SetHeader("Content-Type", "application/json");
  EXPECT_EQ(*r.FindHeader("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(r.headers.size(), 3u);
}

TEST(FormTest, DecodesPairsAndRejectsBadEscapes) {
  auto f = ParseForm("a=1&b=x+y%21&&c=&d");
  ASSERT_TRUE(f.has_value());
  ASSERT_EQ(f->size(), 4u);
  EXPECT_EQ((*f)[1].second, "x y!");
  EXPECT_EQ((*f)[2].second, "");
  EXPECT_EQ((*f)[3].first, "d");
  EXPECT_FALSE(ParseForm("a=%zz").has_value());
  EXPECT_FALSE(ParseForm("a=%4").has_value());
  EXPECT_FALSE(ParseForm("a=%").has_value());
}

TEST(PercentTest, EncodesEverythingButUnreserved) {
  EXPECT_EQ(PercentEncode("a b/~"), "a%20b%2F~");
  EXPECT_EQ(*PercentDecode("a%20b%2f", false), "a b/");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
}

}  // namespace
}  // namespace ts::http
