// File: discovery.h
// What the server publishes about itself for standard OAuth and OpenID clients: the metadata
// document served both as OpenID Connect Discovery (`<issuer>/.well-known/openid-configuration`)
// and as RFC 8414 authorization-server metadata (`<public URL>/.well-known/
// oauth-authorization-server/<instance id>`, §3.1's path insertion). One document for both: RFC
// 8414 §2 admits OpenID's members, and OpenID clients read the RFC 8414 ones.
//
// It names only endpoints that speak the standard their member stands for (docs/design/
// public-clients.md): a member a standard client would follow to an AWS-shaped or SigV4-signed
// endpoint is left out.
#pragma once

#include <string>

namespace ts::server {

struct DiscoveryOptions {
  std::string public_url;  // e.g. http://127.0.0.1:8080 (no trailing slash)
  std::string issuer;      // <public_url>/<instance id>
};

// The metadata as a JSON object.
std::string AuthorizationServerMetadata(const DiscoveryOptions& options);

}  // namespace ts::server
