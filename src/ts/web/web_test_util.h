// File: web_test_util.h
// What the browser pages' handler tests share: the fixture's identifiers, a fresh store with a
// password hash ready, form encoding and reading the cookies a response sets. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "test/common/status_matchers.h"
#include "test/common/temp_dir.h"
#include "ts/crypto/password.h"
#include "ts/http/message.h"
#include "ts/storage/sqlite/sqlite_store.h"

namespace ts::web::test_util {

using Params = std::vector<std::pair<std::string, std::string>>;

inline constexpr int64_t kNow = 1'700'000'000;
inline constexpr char kPublicUrl[] = "http://127.0.0.1:8080";
inline constexpr char kIssuer[] = "http://127.0.0.1:8080/ssoins-111111111111";
inline constexpr char kApp[] = "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-1";
inline constexpr char kDisabledApp[] =
    "arn:aws:sso::123456789012:application/ssoins-111111111111/apl-3";
inline constexpr char kAlice[] = "11111111-1111-4111-8111-111111111111";
inline constexpr char kBob[] = "22222222-2222-4222-8222-222222222222";
inline constexpr char kPassword[] = "correct horse battery staple";
// A registered client's id (public-clients.md: base64url(16 bytes) + base64url(region)).
inline constexpr char kClient[] = "AbCdEfGhIjKlMnOpQrStUvdXMtZWFzdC0x";

// application/x-www-form-urlencoded, in the given order.
inline std::string Form(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return out;
}

inline std::vector<std::string> SetCookies(const http::Response& r) {
  std::vector<std::string> out;
  for (const http::Header& h : r.headers) {
    if (h.name == "Set-Cookie" || h.name == "set-cookie") out.push_back(h.value);
  }
  return out;
}

// The whole Set-Cookie header for cookie `name` ("" if none).
inline std::string SetCookieFor(const http::Response& r, const std::string& name) {
  for (const std::string& c : SetCookies(r)) {
    if (c.rfind(name + "=", 0) == 0) return c;
  }
  return "";
}

// The value of cookie `name` in the response's Set-Cookie headers ("" if none).
inline std::string CookieFrom(const http::Response& r, const std::string& name) {
  const std::string c = SetCookieFor(r, name);
  if (c.empty()) return "";
  return c.substr(name.size() + 1, c.find(';') - name.size() - 1);
}

// A fresh SQLite store in a temporary directory for each test, and one argon2 hash of kPassword
// for the whole suite (each costs ~50 ms). Subclasses reset what holds the store before
// StoreTest::TearDown removes the directory.
class StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto hash = crypto::HashPassword(kPassword);
    ASSERT_THAT(hash, ::ts::testing::IsOk());
    password_hash_ = new std::string(*hash);
  }
  static void TearDownTestSuite() {
    delete password_hash_;
    password_hash_ = nullptr;
  }

  void SetUp() override {
    dir_ = ::ts::testing::MakeTempDir("ts-web");
    ASSERT_FALSE(dir_.empty());
    auto store = storage::SqliteStore::Open((dir_ / "t.db").string());
    ASSERT_THAT(store, ::ts::testing::IsOk());
    store_ = *store;
  }
  void TearDown() override {
    store_.reset();
    ::ts::testing::RemoveTempDir(dir_);
  }

  static const std::string& PasswordHash() { return *password_hash_; }

  std::filesystem::path dir_;
  storage::StorePtr store_;

 private:
  inline static std::string* password_hash_ = nullptr;
};

}  // namespace ts::web::test_util
