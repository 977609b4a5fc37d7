// jose_cross_tool: a command-line face of ts::jose for cross-checking against other JOSE
// implementations (test/jose/cross_check.py). Test-only; not installed.
//
//   jose_cross_tool sign <payload_json>
//       Generates an ES256 key; prints its public JWK on line 1 and a signed JWT on line 2.
//   jose_cross_tool verify <jwks_file> <alg>[,<alg>...] <token>
//       Exit 0 and the payload on stdout when VerifyJws accepts; exit 1 and the error on stderr.
//   jose_cross_tool thumbprints <jwks_file>
//       One line per usable key: "<kid> <RFC 7638 thumbprint>".
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "ts/jose/jwk.h"
#include "ts/jose/signer.h"
#include "ts/jose/verifier.h"

namespace {

int Usage() {
  std::cerr << "usage: jose_cross_tool sign <payload_json>\n"
               "       jose_cross_tool verify <jwks_file> <alg,...> <token>\n"
               "       jose_cross_tool thumbprints <jwks_file>\n";
  return 2;
}

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

ts::StatusOr<ts::jose::JwkSet> LoadJwks(const std::string& path) {
  std::string text;
  if (!ReadFile(path, text)) return ts::InvalidArgumentError("cannot read " + path);
  return ts::jose::JwkSet::Parse(text);
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string command = argv[1];
  if (command == "sign" && argc == 3) {
    auto signer = ts::jose::Es256Signer::Generate();
    if (!signer.ok()) {
      std::cerr << signer.status() << "\n";
      return 1;
    }
    auto token = signer->SignJwt(argv[2]);
    if (!token.ok()) {
      std::cerr << token.status() << "\n";
      return 1;
    }
    std::cout << signer->PublicJwkJson() << "\n" << *token << "\n";
    return 0;
  }
  if (command == "verify" && argc == 5) {
    auto keys = LoadJwks(argv[2]);
    if (!keys.ok()) {
      std::cerr << keys.status() << "\n";
      return 1;
    }
    auto verified = ts::jose::VerifyJws(argv[4], *keys, SplitCommas(argv[3]));
    if (!verified.ok()) {
      std::cerr << verified.status().message() << "\n";
      return 1;
    }
    std::cout << verified->payload_json;
    return 0;
  }
  if (command == "thumbprints" && argc == 3) {
    auto keys = LoadJwks(argv[2]);
    if (!keys.ok()) {
      std::cerr << keys.status() << "\n";
      return 1;
    }
    for (const ts::jose::Jwk& k : keys->keys())
      std::cout << k.kid() << " " << k.Thumbprint() << "\n";
    return 0;
  }
  return Usage();
}
