// File: migrations.h
// The PostgreSQL schema migrations (src/ts/storage/migrations/postgres/V<NNN>__<name>.sql),
// embedded into the binary at build time by CMake (migrations.cc.in) so no source tree is needed
// at run time. Immutable data; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace ts::storage::postgres_internal {

struct Migration {
  int version;            // NNN of the file name
  std::string_view name;  // the file name
  std::string_view sql;   // the file's contents
};

// Every migration, in ascending version order.
std::span<const Migration> PostgresMigrations();

}  // namespace ts::storage::postgres_internal
