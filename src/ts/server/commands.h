// File: commands.h
// The `tessera` command line: `serve` and the operations AWS has no API for (passwords, access
// keys, signing keys). Each returns the process exit code.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "ts/server/app.h"

namespace ts::server {

// Runs `tessera <args...>`; prints to out/err; returns the exit status. `program` is how the
// binary was invoked (argv[0]), for the commands the demo banner suggests.
int RunCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err, const std::string& program = "tessera");

// The demo's instructions: credentials, the sign-in URL and one ready command per step. A secret
// appears only when this start generated it; otherwise the banner says where it is and how to
// replace it (`program` and `db` make those commands paste as printed). The sign-in URL comes
// with PKCE (recommended) and, unless the server requires PKCE, without, as AWS's own
// CreateTokenWithIAM example redeems it.
std::string DemoBanner(const std::string& url, const Tessera::DemoSecrets& secrets,
                       const std::string& program, const std::string& db,
                       bool require_pkce = false);

}  // namespace ts::server
