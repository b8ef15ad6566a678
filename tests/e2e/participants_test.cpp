// The order saga against `sagactl run`, answered by the order services in each language the
// repository ships a participant SDK for: C++ (examples/participants), Python (sdk/python) and
// Node (sdk/node). Same flags, same behaviour: one order completes, one is declined by
// payments and compensated, and a duplicated reply changes nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "runtime/admin.h"
#include "tests/e2e/process.h"

namespace {

namespace fs = std::filesystem;
using testing_support::await;
using testing_support::BackgroundProcess;
using testing_support::line_value;
using testing_support::run_process;

const std::string kBin = SAGACTL_BIN;
const std::string kSource = SAGACTL_SOURCE_DIR;

std::vector<std::string> services_command(const std::string& language) {
  if (language == "cpp") return {ORDER_SERVICES_BIN};
  if (language == "python") return {"/usr/bin/python3", kSource + "/sdk/python/examples/order_services.py"};
  return {"/usr/bin/env", "node", kSource + "/sdk/node/examples/order-services.js"};
}

class Participants : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sagactl-participants-" + std::to_string(::getpid()) + "-" + GetParam());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    config_ = (dir_ / "sagactl.yaml").string();
    std::ofstream(config_) << "sagas: " << kSource << "/examples/sagas\nstate: " << (dir_ / "state.db").string()
                           << "\nkafka: {brokers: embedded, embedded_port: 0}\nadmin: 127.0.0.1:0\nlog: {level: warn}\n";
    run_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{kBin, "run", "--config", config_});
    ASSERT_TRUE(await([&] { return !line_value(run_->out(), "admin: ").empty(); })) << run_->err();
    admin_ = line_value(run_->out(), "admin: ");
    ASSERT_TRUE(await([&] {
      auto r = runtime::http_request(admin_, "GET", "/readyz");
      return r.ok() && r->status == 200;
    })) << run_->err();
    auto argv = services_command(GetParam());
    argv.insert(argv.end(), {"--brokers", line_value(run_->out(), "bootstrap: "), "--state-dir", dir_.string(),
                             "--twice", "ChargeCard"});
    services_ = std::make_unique<BackgroundProcess>(argv);
  }

  void TearDown() override {
    services_.reset();
    run_.reset();
    fs::remove_all(dir_);
  }

  testing_support::ProcessResult start(const std::string& id, const std::string& input) {
    return run_process({kBin, "start", "order-fulfilment", "--config", config_, "--admin", admin_, "--id", id,
                        "--input", input, "--wait", "--timeout", "60s"});
  }

  fs::path dir_;
  std::string config_;
  std::string admin_;
  std::unique_ptr<BackgroundProcess> run_;
  std::unique_ptr<BackgroundProcess> services_;
};

TEST_P(Participants, OneOrderCompletesAndADeclinedOneIsCompensated) {
  auto done = start("good", R"({"orderId": "o-1", "amount": 42, "items": [], "express": true})");
  EXPECT_EQ(done.exit_code, 0) << done.out << done.err << services_->err();
  EXPECT_NE(done.out.find("completed"), std::string::npos) << done.out;

  auto declined = start("declined", R"({"orderId": "o-2", "amount": 5000, "items": [], "express": true})");
  EXPECT_EQ(declined.exit_code, 2) << declined.out << declined.err << services_->err();
  EXPECT_NE(declined.out.find("card declined"), std::string::npos) << declined.out;

  auto status = run_process({kBin, "status", "declined", "--config", config_, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  for (const char* step : {"reserve-stock", "create-invoice"}) {
    std::regex compensated("\"name\":\"" + std::string(step) + "\"[^}]*\"state\":\"compensated\"");
    EXPECT_TRUE(std::regex_search(status.out, compensated)) << step << " in " << status.out;
  }
  auto good = run_process({kBin, "status", "goo", "--config", config_, "--json"});  // a unique prefix
  EXPECT_EQ(good.exit_code, 0) << good.err;
  std::regex charge_once("\"name\":\"charge-card\"[^}]*\"attempts\":1[,}]");
  EXPECT_TRUE(std::regex_search(good.out, charge_once)) << "the duplicate reply was ignored: " << good.out;
}

INSTANTIATE_TEST_SUITE_P(Sdk, Participants, ::testing::Values("cpp", "python", "node"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
