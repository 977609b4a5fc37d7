// File: config.h
// Everything `tessera serve` can be told, from flags and the environment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ts/common/status.h"

namespace ts::server {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string db_path = "./var/tessera.db";
  std::string public_url;  // default: http://<listen>
  std::string bootstrap_file;
  bool demo = false;
  std::vector<std::string> regions = {"us-east-1"};
  int threads = 0;  // 0: one per core
  bool access_log = false;

  // Lifetimes (seconds).
  int64_t access_token_ttl = 3600;
  int64_t refresh_token_ttl = 90 * 86400;
  int64_t refresh_grace_seconds = 0;
  int64_t code_ttl = 300;
  int64_t session_ttl = 8 * 3600;

  // From the environment, never from flags (flags show up in `ps`).
  std::string master_key_env;      // TESSERA_MASTER_KEY
  std::string master_key_file;     // TESSERA_MASTER_KEY_FILE, default <db dir>/master.key
  std::string root_access_key_id;  // TESSERA_ROOT_ACCESS_KEY_ID
  std::string root_secret_key;     // TESSERA_ROOT_SECRET_ACCESS_KEY
  std::string demo_password;       // TESSERA_DEMO_PASSWORD

  std::string Host() const;
  uint16_t Port() const;
};

// Parses `serve` flags (argv after the subcommand) and the environment. InvalidArgument with a
// message naming the flag on a bad value or an unknown flag.
StatusOr<ServerConfig> ParseServeFlags(const std::vector<std::string>& args);

// The usage text of `tessera serve`.
std::string ServeUsage();

}  // namespace ts::server
