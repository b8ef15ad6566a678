// A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, `initdb` in a new
// temporary directory, a free port on loopback, trust authentication for one user. Real
// server, real protocol; stopped (immediately) and deleted when the object goes away.
//
// PostgreSQL refuses to run as root: a test run as root runs the server as `nobody`, which
// then owns the data directory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "sagas/result.h"
#include "tests/e2e/process.h"

namespace testing_support {

class PostgresServer {
 public:
  // The error says which step failed and what it printed.
  static sagas::Result<std::unique_ptr<PostgresServer>> start();
  // A server someone else runs on loopback `port` (scripts/test.sh starts one per run and
  // names it in SAGACTL_TEST_POSTGRES_PORT): databases are created in it; it is never stopped.
  static sagas::Result<std::unique_ptr<PostgresServer>> attach(int port);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // A libpq connection URL to `database` (created by create_database, or "postgres").
  std::string url(const std::string& database = "postgres") const;
  // Creates an empty database; the error says why not.
  sagas::Result<std::string> create_database(const std::string& name);
  // Stops the server at once (as a crash of it would: sessions cut), and starts it again on
  // the same port and data.
  sagas::Result<bool> stop();
  sagas::Result<bool> start_again();

 private:
  PostgresServer() = default;
  ProcessResult as_server(std::vector<std::string> argv) const;
  bool pg_ctl_start();
  std::string dir_;
  std::string bin_;
  int port_ = 0;
  bool as_nobody_ = false;
  bool running_ = false;
};

}  // namespace testing_support
