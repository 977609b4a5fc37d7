#include "ts/http/client_address.h"

#include <gtest/gtest.h>

#include <random>

#include "test/common/status_matchers.h"

namespace ts::http {
namespace {

using ::ts::testing::IsOk;
using ::ts::testing::StatusIs;

TrustedProxies Proxies(std::vector<std::string> blocks,
                       ForwardedHeader header = ForwardedHeader::kXForwardedFor) {
  std::vector<IpNetwork> networks;
  for (const auto& b : blocks) {
    auto n = IpNetwork::Parse(b);
    EXPECT_TRUE(n.ok()) << b << ": " << n.status().ToString();
    if (n.ok()) networks.push_back(*n);
  }
  return TrustedProxies(std::move(networks), header);
}

std::vector<Header> Xff(std::string value) { return {{"x-forwarded-for", std::move(value)}}; }

TEST(IpAddressTest, ParsesBothFamiliesAndCanonicalizes) {
  EXPECT_EQ(IpAddress::Parse("192.0.2.1")->ToString(), "192.0.2.1");
  EXPECT_TRUE(IpAddress::Parse("192.0.2.1")->is_v4);
  EXPECT_EQ(IpAddress::Parse("2001:DB8:0:0::1")->ToString(), "2001:db8::1");
  // The IPv4-mapped form is the IPv4 address: one throttle key, not two.
  EXPECT_EQ(IpAddress::Parse("::ffff:192.0.2.1")->ToString(), "192.0.2.1");
  for (const char* bad : {"", " 192.0.2.1", "192.0.2.1 ", "192.0.2", "192.0.2.256", "[::1]",
                          "::1%eth0", "1.2.3.4:80", "unknown", "01.2.3.4"}) {
    EXPECT_FALSE(IpAddress::Parse(bad).has_value()) << bad;
  }
}

TEST(IpNetworkTest, ParsesBlocksAndRefusesMistakes) {
  auto v4 = IpNetwork::Parse("10.0.0.0/8");
  ASSERT_THAT(v4, IsOk());
  EXPECT_TRUE(v4->Contains(*IpAddress::Parse("10.255.0.1")));
  EXPECT_FALSE(v4->Contains(*IpAddress::Parse("11.0.0.1")));
  // An IPv4 block covers the mapped form too, and no other IPv6 address.
  EXPECT_TRUE(v4->Contains(*IpAddress::Parse("::ffff:10.1.2.3")));
  EXPECT_FALSE(v4->Contains(*IpAddress::Parse("::a01:203")));

  auto v6 = IpNetwork::Parse("2001:db8::/32");
  ASSERT_THAT(v6, IsOk());
  EXPECT_TRUE(v6->Contains(*IpAddress::Parse("2001:db8:ffff::1")));
  EXPECT_FALSE(v6->Contains(*IpAddress::Parse("2001:db9::1")));
  auto loopback = IpNetwork::Parse("::1/128");
  ASSERT_THAT(loopback, IsOk());
  EXPECT_TRUE(loopback->Contains(*IpAddress::Parse("::1")));
  EXPECT_FALSE(loopback->Contains(*IpAddress::Parse("::2")));

  auto single = IpNetwork::Parse("127.0.0.2");  // a bare address is a /32
  ASSERT_THAT(single, IsOk());
  EXPECT_TRUE(single->Contains(*IpAddress::Parse("127.0.0.2")));
  EXPECT_FALSE(single->Contains(*IpAddress::Parse("127.0.0.3")));
  auto odd = IpNetwork::Parse("172.16.0.0/12");
  ASSERT_THAT(odd, IsOk());
  EXPECT_TRUE(odd->Contains(*IpAddress::Parse("172.31.255.255")));
  EXPECT_FALSE(odd->Contains(*IpAddress::Parse("172.32.0.0")));

  EXPECT_THAT(IpNetwork::Parse("10.0.0.1/8"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("host bits")));
  EXPECT_THAT(IpNetwork::Parse("10.0.0.0/33"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("0 to 32")));
  EXPECT_THAT(IpNetwork::Parse("::/129"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr("0 to 128")));
  for (const char* bad : {"", "/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "proxy.local/32"}) {
    EXPECT_THAT(IpNetwork::Parse(bad), StatusIs(StatusCode::kInvalidArgument, ::testing::_)) << bad;
  }
}

TEST(ClientAddressTest, UntrustedPeerIsTheClientWhateverItForwards) {
  auto proxies = Proxies({"10.0.0.0/8"});
  EXPECT_EQ(proxies.ClientAddress("203.0.113.9", Xff("198.51.100.1")), "203.0.113.9");
  EXPECT_EQ(proxies.ClientAddress("203.0.113.9", {{"forwarded", "for=198.51.100.1"}}),
            "203.0.113.9");
  // No trusted proxies configured: the header is never read.
  EXPECT_EQ(TrustedProxies().ClientAddress("10.0.0.1", Xff("198.51.100.1")), "10.0.0.1");
}

TEST(ClientAddressTest, TrustedPeerIsWalkedFromTheRight) {
  auto proxies = Proxies({"10.0.0.0/8", "fd00::/8"});
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("198.51.100.1")), "198.51.100.1");
  // The client's own (spoofed) entries to the left of the first untrusted hop are ignored.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("1.1.1.1, 198.51.100.1, 10.0.0.7")),
            "198.51.100.1");
  // Several header lines are one list.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", {{"x-forwarded-for", "1.1.1.1, 198.51.100.1"},
                                               {"x-forwarded-for", "10.0.0.7"}}),
            "198.51.100.1");
  // Every hop trusted: the first one is where the request began.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("10.1.1.1, 10.0.0.7")), "10.1.1.1");
  // No header from a trusted peer: the peer.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", {}), "10.0.0.1");
  // Ports and IPv6, canonicalized.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("198.51.100.1:4711")), "198.51.100.1");
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("[2001:DB8::1]:4711")), "2001:db8::1");
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("2001:db8::1, fd00::5")), "2001:db8::1");
  EXPECT_EQ(proxies.ClientAddress("fd00::1", Xff("::ffff:198.51.100.1")), "198.51.100.1");
}

TEST(ClientAddressTest, MalformedHeadersFallBackToThePeer) {
  auto proxies = Proxies({"10.0.0.0/8"});
  for (const char* bad : {"", " , ", "unknown", "garbage", "198.51.100.1 x", "[198.51.100.1]",
                          "[2001:db8::1", "198.51.100.1:port", "2001:db8::1:", "\x01\x02"}) {
    EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff(bad)), "10.0.0.1") << bad;
  }
  // Garbage to the left of the client was written by the client: ignored.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("garbage, 198.51.100.1")), "198.51.100.1");
  // Garbage in the trusted part: nothing beyond it is vouched for.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("198.51.100.1, garbage, 10.0.0.7")), "10.0.0.1");
}

TEST(ClientAddressTest, Rfc7239Forwarded) {
  auto proxies = Proxies({"10.0.0.0/8"}, ForwardedHeader::kForwarded);
  auto fwd = [&](std::string value) {
    return proxies.ClientAddress("10.0.0.1", {{"forwarded", std::move(value)}});
  };
  // RFC 7239 §4 and §7.1 examples.
  EXPECT_EQ(fwd(R"(for="_gazonk")"), "10.0.0.1");
  EXPECT_EQ(fwd(R"(For="[2001:db8:cafe::17]:4711")"), "2001:db8:cafe::17");
  EXPECT_EQ(fwd("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60");
  EXPECT_EQ(fwd("for=192.0.2.43, for=198.51.100.17"), "198.51.100.17");
  EXPECT_EQ(fwd("for=192.0.2.43, for=10.0.0.9;by=10.0.0.1"), "192.0.2.43");
  EXPECT_EQ(fwd(R"(for="192.0.2.43:80", for=unknown)"), "10.0.0.1");
  // Broken syntax: the peer.
  for (const char* bad : {"for=", "for", "=1.2.3.4", R"(for="192.0.2.1)", "for=1.2.3.4;for=1.2.3.5",
                          "for=1.2.3.4 5", "proto=https", "for=\"a\\\""}) {
    EXPECT_EQ(fwd(bad), "10.0.0.1") << bad;
  }
  // X-Forwarded-For is not read when Forwarded is the configured header, and vice versa.
  EXPECT_EQ(proxies.ClientAddress("10.0.0.1", Xff("198.51.100.1")), "10.0.0.1");
  EXPECT_EQ(Proxies({"10.0.0.0/8"}).ClientAddress("10.0.0.1", {{"forwarded", "for=192.0.2.1"}}),
            "10.0.0.1");
}

// Random bytes and random splices of valid pieces: never a crash, and the result is always the
// peer or an address that parses.
TEST(ClientAddressTest, FuzzedHeadersNeverCrashAndYieldAnAddress) {
  const std::vector<std::string> pieces = {
      "for=",  "For=", "\"",      "[",        "]",  ":",    ",",    ";",       " ",  "\\", "=",
      "1.2.3", ".4",   "10.0.0.", "2001:db8", "::", "ffff", "_obf", "unknown", "80", "\t", "\x7f"};
  std::mt19937 rng(20);
  for (auto header : {ForwardedHeader::kXForwardedFor, ForwardedHeader::kForwarded}) {
    auto proxies = Proxies({"10.0.0.0/8", "::/0"}, header);
    const std::string name =
        header == ForwardedHeader::kForwarded ? "forwarded" : "x-forwarded-for";
    for (int i = 0; i < 20000; ++i) {
      std::string value;
      const int n = static_cast<int>(rng() % 12);
      for (int j = 0; j < n; ++j) {
        if (rng() % 4 == 0) {
          value.push_back(static_cast<char>(rng() % 256));
        } else {
          value += pieces[rng() % pieces.size()];
        }
      }
      std::string got = proxies.ClientAddress("10.0.0.1", {{name, value}});
      EXPECT_TRUE(got == "10.0.0.1" || IpAddress::Parse(got).has_value()) << value << " -> " << got;
    }
  }
}

TEST(RequestTest, ClientAddressFallsBackToThePeer) {
  Request r;
  r.remote_address = "10.0.0.1";
  EXPECT_EQ(r.ClientAddress(), "10.0.0.1");
  r.client_address = "198.51.100.1";
  EXPECT_EQ(r.ClientAddress(), "198.51.100.1");
}

}  // namespace
}  // namespace ts::http
