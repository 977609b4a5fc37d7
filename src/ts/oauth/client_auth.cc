#include "ts/oauth/client_auth.h"

#include <algorithm>
#include <utility>

#include "ts/common/ascii.h"
#include "ts/crypto/digest.h"
#include "ts/crypto/encoding.h"
#include "ts/crypto/random.h"
#include "ts/http/message.h"
#include "ts/oauth/errors.h"
#include "ts/tokens/token_minter.h"

namespace ts::oauth {
namespace {

constexpr size_t kClientIdRandomBytes = 16;
constexpr size_t kClientIdRandomChars = 22;  // base64url of 16 bytes, unpadded
constexpr size_t kMaxRegionLength = 32;

// AWS region names: lower-case letters, digits and '-' (us-east-1, us-gov-west-1).
bool LooksLikeRegion(std::string_view region) {
  if (region.empty() || region.size() > kMaxRegionLength) return false;
  return std::all_of(region.begin(), region.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

}  // namespace

std::string NewClientId(std::string_view region) {
  return crypto::RandomToken(kClientIdRandomBytes) + crypto::Base64UrlEncode(region);
}

std::optional<std::string> RegionOfClientId(std::string_view client_id) {
  if (client_id.size() <= kClientIdRandomChars) return std::nullopt;
  std::optional<std::string> region =
      crypto::Base64UrlDecode(client_id.substr(kClientIdRandomChars));
  if (!region.has_value() || !LooksLikeRegion(*region)) return std::nullopt;
  return region;
}

std::string NewClientSecret() { return "tscs_" + crypto::RandomToken(32); }

ClientAuthenticator::ClientAuthenticator(std::shared_ptr<storage::ClientStore> clients,
                                         ClockPtr clock, std::vector<std::string> regions,
                                         std::chrono::milliseconds ttl)
    : clients_(std::move(clients)),
      clock_(std::move(clock)),
      regions_(std::move(regions)),
      ttl_(ttl) {}

StatusOr<std::shared_ptr<const storage::RegisteredClient>> ClientAuthenticator::Authenticate(
    std::string_view client_id, std::string_view client_secret) {
  if (client_id.empty()) return InvalidRequest("Member 'clientId' is required");
  if (client_secret.empty()) return InvalidRequest("Member 'clientSecret' is required");
  // Hashed before anything is looked up, so that an unknown client takes as long as a known one.
  const std::string presented = tokens::TokenMinter::Hash(client_secret);
  std::optional<std::string> region = RegionOfClientId(client_id);
  if (!region.has_value()) return InvalidClient(kInvalidClientMessage);
  if (std::find(regions_.begin(), regions_.end(), *region) == regions_.end()) {
    return InvalidRequestRegion(*region);
  }
  auto client = Find(std::string(client_id));
  if (!client.ok()) {
    if (client.status().code() == StatusCode::kNotFound)
      return InvalidClient(kInvalidClientMessage);
    return client.status();
  }
  const bool expired = (*client)->secret_expires_at <= clock_->NowUnixSeconds();
  // Constant time: a guessed secret learns nothing from how long the comparison took.
  const bool matches = crypto::ConstantTimeEquals(presented, (*client)->secret_hash);
  if (expired || !matches) return InvalidClient(kInvalidClientMessage);
  return client;
}

StatusOr<std::shared_ptr<const storage::RegisteredClient>> ClientAuthenticator::Find(
    const std::string& client_id) {
  const Clock::TimePoint now = clock_->Now();
  if (ttl_.count() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = slots_.find(client_id);
    if (it != slots_.end()) {
      // A registration never changes, but it is purged once its secret expires: an entry goes
      // with it.
      const bool fresh = now >= it->second.read_at && now - it->second.read_at < ttl_ &&
                         clock_->NowUnixSeconds() < it->second.client->secret_expires_at;
      if (fresh) return it->second.client;
      slots_.erase(it);
    }
  }
  auto read = clients_->GetClient(client_id);
  if (!read.ok()) return read.status();
  auto client = std::make_shared<const storage::RegisteredClient>(*std::move(read));
  if (ttl_.count() > 0 && clock_->NowUnixSeconds() < client->secret_expires_at) {
    std::lock_guard<std::mutex> lock(mu_);
    if (slots_.size() >= kMaxEntries) slots_.clear();
    slots_[client_id] = Slot{client, now};
  }
  return client;
}

StatusOr<ClientCredentials> ParseBasicCredentials(std::string_view authorization) {
  const size_t space = authorization.find(' ');
  if (space == std::string_view::npos || AsciiLower(authorization.substr(0, space)) != "basic") {
    return InvalidClient(
        "Unsupported Authorization scheme: authenticate with HTTP Basic (client_secret_basic) "
        "or client_id and client_secret in the body (client_secret_post)");
  }
  std::string_view encoded = authorization.substr(space + 1);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  std::optional<std::string> decoded = crypto::Base64Decode(encoded);
  const size_t colon = decoded.has_value() ? decoded->find(':') : std::string::npos;
  if (colon == std::string::npos) return InvalidClient("Malformed HTTP Basic credentials");
  std::optional<std::string> id =
      http::PercentDecode(std::string_view(*decoded).substr(0, colon), true);
  std::optional<std::string> secret =
      http::PercentDecode(std::string_view(*decoded).substr(colon + 1), true);
  if (!id.has_value() || !secret.has_value()) {
    return InvalidClient("Malformed HTTP Basic credentials");
  }
  return ClientCredentials{std::move(*id), std::move(*secret)};
}

StatusOr<ClientCredentials> ReadClientCredentials(std::optional<std::string_view> authorization,
                                                  std::string_view form_client_id,
                                                  std::string_view form_client_secret) {
  if (!authorization.has_value()) {
    if (form_client_id.empty() || form_client_secret.empty()) {
      return InvalidClient(
          "Client authentication is required: HTTP Basic (client_secret_basic) or client_id "
          "and client_secret in the body (client_secret_post)");
    }
    return ClientCredentials{std::string(form_client_id), std::string(form_client_secret)};
  }
  auto basic = ParseBasicCredentials(*authorization);
  if (!basic.ok()) return basic.status();
  if (!form_client_secret.empty()) {
    return InvalidRequest(
        "The client authenticated twice (HTTP Basic and client_secret); use one method");
  }
  if (!form_client_id.empty() && form_client_id != basic->client_id) {
    return InvalidRequest("client_id differs from the HTTP Basic user name");
  }
  return basic;
}

}  // namespace ts::oauth
