#include "tests/support/store_site.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <memory>

#include "tests/support/postgres_server.h"

namespace testing_support {

namespace {

// The run's shared server when scripts/test.sh started one (SAGACTL_TEST_POSTGRES_PORT: an
// initdb per test process cost minutes per CI stage), else one per test process, started on
// first use, stopped at exit.
PostgresServer* server() {
  static std::unique_ptr<PostgresServer> s;
  static std::string failure;
  if (s == nullptr && failure.empty()) {
    const char* shared = std::getenv("SAGACTL_TEST_POSTGRES_PORT");
    auto started = shared != nullptr && *shared != '\0' ? PostgresServer::attach(std::atoi(shared)) : PostgresServer::start();
    if (started) {
      s = std::move(started).value();
    } else {
      failure = started.error().message;
    }
  }
  if (s == nullptr) ADD_FAILURE() << "cannot start PostgreSQL for this test: " << failure;
  return s.get();
}

// A database name from the running test's name: [a-z0-9_], at most 63 bytes, unique per call.
std::string database_name() {
  static int n = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name();
  for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? static_cast<char>(std::tolower(ch)) : '_';
  // The pid: processes share one server.
  return "t" + std::to_string(::getpid()) + "_" + std::to_string(++n) + "_" + name.substr(0, 40);
}

}  // namespace

std::string new_store_site(Backend backend, const std::string& dir) {
  if (backend == Backend::sqlite) return dir + "/state.db";
  PostgresServer* s = server();
  if (s == nullptr) return "";
  auto url = s->create_database(database_name());
  if (!url) {
    ADD_FAILURE() << url.error().message;
    return "";
  }
  return *url;
}

}  // namespace testing_support
