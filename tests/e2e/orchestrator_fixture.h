// A test's own `sagactl run` (embedded broker, a config file in a temporary directory) and
// the order services beside it, as separate processes, driven by the CLI as a user would.
// Subclasses write the config and say how the CLI finds the state (sagactl()).
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "server/admin.h"
#include "tests/e2e/process.h"

namespace testing_support {

class OrchestratorFixture : public ::testing::Test {
 protected:
  // A fresh directory named after the test, with `sagas/` in it.
  void make_dir(const std::string& prefix) {
    dir_ = std::filesystem::temp_directory_path() /
           (prefix + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "sagas");
    config_ = (dir_ / "sagactl.yaml").string();
  }

  void TearDown() override {
    services_.reset();
    run_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Starts `sagactl run` and waits until it is ready (/readyz), not merely listening.
  void start_run() {
    run_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{SAGACTL_BIN, "run", "--config", config_});
    ASSERT_TRUE(await([&] { return !line_value(run_->out(), "admin: ").empty(); })) << run_->err();
    bootstrap_ = line_value(run_->out(), "bootstrap: ");
    admin_ = line_value(run_->out(), "admin: ");
    ASSERT_TRUE(await([&] {
      auto r = server::http_request(admin_, "GET", "/readyz");
      return r.ok() && r->status == 200;
    })) << run_->err();
  }

  void start_services(std::vector<std::string> flags = {}) {
    std::vector<std::string> argv = {ORDER_SERVICES_BIN, "--brokers", bootstrap_, "--state-dir", dir_.string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    services_ = std::make_unique<BackgroundProcess>(argv);
  }

  // The CLI, as the subclass points it at the orchestrator and its state.
  virtual ProcessResult sagactl(std::vector<std::string> args) = 0;

  std::string state_of(const std::string& id) {
    auto r = sagactl({"status", id, "--json"});
    std::smatch m;
    std::regex state("\"state\":\"([a-z_]+)\"");
    return std::regex_search(r.out, m, state) ? m[1].str() : "";
  }

  std::filesystem::path dir_;
  std::string config_;
  std::string bootstrap_;
  std::string admin_;
  std::unique_ptr<BackgroundProcess> run_;
  std::unique_ptr<BackgroundProcess> services_;
};

}  // namespace testing_support
