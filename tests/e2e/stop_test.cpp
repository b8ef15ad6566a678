// The brokers' edges: stops that are bounded whatever the brokers' state (`sagactl run` and
// `sagactl dev-broker` end within shutdown_timeout after SIGTERM, with the brokers gone first,
// and what was left undelivered is sent by the next run), and a start against brokers that
// are not there (said once, observable on /readyz, bounded by kafka.connect_timeout).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <boost/asio/ip/tcp.hpp>
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

  void write_config(const std::string& shutdown_timeout, const std::string& kafka_extra = "") {
    std::ofstream(config_) << "sagas: " << (dir_ / "sagas").string() << "\nstate: " << (dir_ / "state.db").string()
                           << "\nkafka: {brokers: '" << broker_address_ << "'" << kafka_extra
                           << "}\nadmin: 127.0.0.1:0\nshutdown_timeout: " << shutdown_timeout << "\nlog: {level: info}\n";
  }

  // A loopback port nothing listens on (bound, then released).
  static std::string free_port() {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
    return std::to_string(a.local_endpoint().port());
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

TEST_F(Stops, ARunWhoseBrokersAreNotThereSaysSoOnceAnswersReadyzAndStartsWhenTheyCome) {
  std::string port = free_port();
  broker_address_ = "127.0.0.1:" + port;
  write_config("2s");
  run_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{kBin, "run", "--config", config_});
  ASSERT_TRUE(await([&] { return !line_value(run_->out(), "admin: ").empty(); }, std::chrono::seconds(10)))
      << "the admin endpoint opens before the brokers answer\n" << run_->err();
  admin_ = line_value(run_->out(), "admin: ");
  auto ready = server::http_request(admin_, "GET", "/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 503);
  ASSERT_TRUE(await([&] {
    auto r = server::http_request(admin_, "GET", "/readyz");
    return r.ok() && r->body.find("brokers unreachable: 127.0.0.1:" + port) != std::string::npos;
  })) << server::http_request(admin_, "GET", "/readyz")->body;
  EXPECT_NE(server::http_request(admin_, "GET", "/readyz")->body.find("(since 20"), std::string::npos);

  start_broker(port);
  ASSERT_TRUE(await([&] {
    auto r = server::http_request(admin_, "GET", "/readyz");
    return r.ok() && r->status == 200;
  })) << run_->err();
  std::string log = run_->err();
  std::size_t said = 0;
  for (auto at = log.find("retrying (kafka.connect_timeout"); at != std::string::npos;
       at = log.find("retrying (kafka.connect_timeout", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << "one line per change, not one per attempt or topic\n" << log;
  EXPECT_NE(log.find("kafka: brokers 127.0.0.1:" + port + " answer"), std::string::npos) << log;
  run_->signal(SIGTERM);
  EXPECT_EQ(run_->wait(), 0);
}

TEST_F(Stops, ARunGivesUpOnUnreachableBrokersAfterItsConnectTimeoutNamingThem) {
  std::string port = free_port();
  broker_address_ = "127.0.0.1:" + port;
  write_config("2s", ", connect_timeout: 2s");
  auto asked = Clock::now();
  auto r = run_process({kBin, "run", "--config", config_});
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("run: cannot reach the brokers 127.0.0.1:" + port + " within kafka.connect_timeout (2000 ms)"),
            std::string::npos)
      << r.err;
  EXPECT_LT(took.count(), 15'000) << "not 5 s per topic, one after another";
}

}  // namespace
