// Stops that are bounded whatever the brokers' state: `sagactl run` and `sagactl dev-broker`
// end within shutdown_timeout after SIGTERM, with the brokers gone first, and what was left
// undelivered is sent by the next run.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>

#include "tests/e2e/operator_fixture.h"

namespace {

using namespace operator_test;
using Clock = std::chrono::steady_clock;

class Stops : public testing_support::OrchestratorFixture {
 protected:
  void SetUp() override {
    make_dir("sagactl-stop-");
    std::ofstream(dir_ / "sagas" / "quick-order.yaml") << kQuickSaga;
  }

  void TearDown() override {
    testing_support::OrchestratorFixture::TearDown();
    broker_.reset();
  }

  // A development broker of its own, on `port` (0: a free one), so the test can kill it.
  void start_broker(const std::string& port = "0") {
    broker_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{kBin, "dev-broker", "--port", port, "--sagas", (dir_ / "sagas").string()});
    ASSERT_TRUE(await([&] { return !line_value(broker_->out(), "bootstrap: ").empty(); })) << broker_->err();
    broker_address_ = line_value(broker_->out(), "bootstrap: ");
  }

  void write_config(const std::string& shutdown_timeout) {
    std::ofstream(config_) << "sagas: " << (dir_ / "sagas").string() << "\nstate: " << (dir_ / "state.db").string()
                           << "\nkafka: {brokers: '" << broker_address_ << "'}\nadmin: 127.0.0.1:0\n"
                           << "shutdown_timeout: " << shutdown_timeout << "\nlog: {level: info}\n";
  }

  ProcessResult sagactl(std::vector<std::string> args) override {
    args.insert(args.begin(), kBin);
    args.insert(args.end(), {"--config", config_});
    if (args[1] == "start") args.insert(args.end(), {"--admin", admin_});
    return run_process(args);
  }

  std::unique_ptr<BackgroundProcess> broker_;
  std::string broker_address_;
};

TEST_F(Stops, RunStopsWithinItsShutdownTimeoutWithTheBrokersGoneAndTheNextRunSendsWhatWasLeft) {
  start_broker();
  write_config("1s");
  start_run();
  ASSERT_EQ(sagactl({"start", "quick-order", "--input", R"({"orderId": "o-1"})", "--id", "before"}).exit_code, 0);
  broker_->signal(SIGKILL);
  broker_->wait();
  // Acknowledged (committed), but its command has nowhere to go.
  auto after = sagactl({"start", "quick-order", "--input", R"({"orderId": "o-2"})", "--id", "after"});
  ASSERT_EQ(after.exit_code, 0) << after.err;

  auto asked = Clock::now();
  run_->signal(SIGTERM);
  EXPECT_EQ(run_->wait(), 0);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  // 1 s of shutdown_timeout, and the destroys' half-second floors: far from the minutes
  // librdkafka's own close and destroy wait for an unreachable cluster.
  EXPECT_LT(took.count(), 4'000) << run_->err();
  EXPECT_NE(run_->err().find("left undelivered at shutdown"), std::string::npos) << run_->err();
  EXPECT_NE(run_->err().find("stopped cleanly"), std::string::npos) << "the orderly stop, not the watchdog's";

  // The broker back on its port (it keeps nothing), the orchestrator again: it re-sends what
  // was not confirmed, and the order services finish both sagas.
  start_broker(broker_address_.substr(broker_address_.rfind(':') + 1));
  start_run();
  EXPECT_TRUE(std::regex_search(run_->err(), std::regex("re-sent [1-9][0-9]* unconfirmed messages"))) << run_->err();
  bootstrap_ = broker_address_;  // the services' broker: this run has no embedded one
  start_services();
  EXPECT_TRUE(await([&] { return state_of("after") == "completed" && state_of("before") == "completed"; },
                    std::chrono::seconds(60)))
      << state_of("after") << " " << state_of("before") << "\n" << run_->err();
}

TEST_F(Stops, TheDevBrokerStopsOnSigtermWithClientsStillConnected) {
  start_broker();
  write_config("1s");
  start_run();
  broker_->signal(SIGTERM);
  auto asked = Clock::now();
  EXPECT_EQ(broker_->wait(), 0);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  EXPECT_LT(took.count(), 13'000) << "within the default shutdown_timeout and its grace";
  run_->signal(SIGTERM);
  EXPECT_EQ(run_->wait(), 0);
}

}  // namespace
