// File: commands.h
// The `tessera` command line: `serve` and the operations AWS has no API for (passwords, access
// keys, signing keys). Each returns the process exit code.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace ts::server {

// Runs `tessera <args...>`; prints to out/err; returns the exit status.
int RunCommand(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err);

}  // namespace ts::server
