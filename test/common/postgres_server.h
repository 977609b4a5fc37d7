// File: postgres_server.h
// A throwaway PostgreSQL 15 server for tests: initdb in a fresh temporary directory, started on
// a free loopback port with its socket in that directory, stopped and removed by Stop() or the
// destructor. PostgreSQL refuses to run as root, so under root the server runs as the
// `postgres` OS user (runuser); otherwise as the current user. Binaries come from
// /usr/lib/postgresql/15/bin (Debian's postgresql-15), or TS_PG_BIN when set.
//
// Not thread-safe; one per test binary (a ::testing::Environment) is the intended use.
#pragma once

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "test/common/temp_dir.h"

namespace ts::testing {

class PostgresServer {
 public:
  PostgresServer() = default;
  ~PostgresServer() { Stop(); }
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Creates the cluster and starts the server. Returns "" on success, else what failed (the
  // server log is appended when it exists).
  std::string Start() {
    const char* bin_env = std::getenv("TS_PG_BIN");
    bin_ = bin_env != nullptr ? bin_env : "/usr/lib/postgresql/15/bin";
    if (!std::filesystem::exists(std::filesystem::path(bin_) / "initdb")) {
      return "no PostgreSQL at " + bin_ + " (apt-get install postgresql-15)";
    }
    dir_ = MakeTempDir("ts-postgres");
    if (dir_.empty()) return "mkdtemp failed";
    run_as_ = ::geteuid() == 0 ? "runuser -u postgres -- " : "";
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr) return "running as root and there is no postgres user";
      if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return "chown failed";
    }
    port_ = FreePort();
    if (port_ == 0) return "no free port";
    const std::string data = (dir_ / "data").string();
    if (Run(run_as_ + bin_ + "/initdb -D " + data +
            " -A trust -U postgres -E UTF8 --locale=C --no-sync --no-instructions >" +
            (dir_ / "initdb.log").string() + " 2>&1") != 0) {
      return "initdb failed: " + ReadLog("initdb.log");
    }
    std::string error = Resume();
    if (error.empty()) StartWatchdog();
    return error;
  }

  // Starts the server on the existing cluster (after Pause). "" on success.
  std::string Resume() {
    // fsync off: a test cluster is thrown away, and durability across a crash of the machine is
    // not what these tests check.
    if (Run(run_as_ + bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -l " +
            (dir_ / "server.log").string() + " -w -t 60 -o \"-p " + std::to_string(port_) + " -k " +
            dir_.string() +
            " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200\" start"
            " >/dev/null 2>&1") != 0) {
      return "pg_ctl start failed: " + ReadLog("server.log");
    }
    started_ = true;
    return "";
  }

  // Stops the server, keeping the cluster (`mode`: smart, fast or immediate). "" on success.
  std::string Pause(const std::string& mode = "fast") {
    if (Run(run_as_ + bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -m " + mode +
            " -w stop >/dev/null 2>&1") != 0) {
      return "pg_ctl stop failed: " + ReadLog("server.log");
    }
    started_ = false;
    return "";
  }

  // Stops the server (immediately: the data is thrown away) and removes the directory.
  void Stop() {
    if (started_) {
      Run(run_as_ + bin_ + "/pg_ctl -D " + (dir_ / "data").string() +
          " -m immediate -w stop >/dev/null 2>&1");
      started_ = false;
    }
    if (!dir_.empty()) {
      RemoveTempDir(dir_);
      dir_.clear();
    }
  }

  // A libpq URL for `database` as the superuser postgres over TCP loopback.
  std::string Url(const std::string& database = "postgres") const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + database;
  }
  int port() const { return port_; }

 private:
  static int Run(const std::string& command) { return std::system(command.c_str()); }

  // If this process dies without Stop() (a crash, an abort under a sanitizer), a detached shell
  // notices within a second and stops the server and removes its directory. After a normal
  // Stop() it finds nothing left to do.
  void StartWatchdog() const {
    const std::string pid = std::to_string(::getpid());
    const std::string stop =
        run_as_ + bin_ + "/pg_ctl -D " + (dir_ / "data").string() + " -m immediate -w stop";
    Run("nohup sh -c 'while kill -0 " + pid + " 2>/dev/null; do sleep 1; done; " + stop +
        "; rm -rf " + dir_.string() + "' >/dev/null 2>&1 &");
  }

  static int FreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  std::string ReadLog(const std::string& name) const {
    std::string text;
    FILE* f = std::fopen((dir_ / name).c_str(), "r");
    if (f == nullptr) return "(no log)";
    char buffer[4096];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0) text.append(buffer, n);
    std::fclose(f);
    return text;
  }

  std::string bin_;
  std::filesystem::path dir_;
  std::string run_as_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace ts::testing
