// The order saga against `sagactl run`, answered by the order services in each language the
// repository ships a participant SDK for: C++ (examples/participants), Python (sdk/python) and
// Node (sdk/node). Same flags, same behaviour: one order completes, one is declined by
// payments and compensated, and a duplicated reply changes nothing; a service started on a new
// consumer group (reading its topics from the start) executes no finished saga's command again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "server/admin.h"
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
    std::ofstream(config_) << "sagas: " << sagas_dir() << "\nstate: " << (dir_ / "state.db").string()
                           << "\nkafka: {brokers: embedded, embedded_port: 0}\nadmin: 127.0.0.1:0\nlog: {level: warn}\n";
    run_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{kBin, "run", "--config", config_});
    ASSERT_TRUE(await([&] { return !line_value(run_->out(), "admin: ").empty(); })) << run_->err();
    admin_ = line_value(run_->out(), "admin: ");
    ASSERT_TRUE(await([&] {
      auto r = server::http_request(admin_, "GET", "/readyz");
      return r.ok() && r->status == 200;
    })) << run_->err();
    services_ = start_services({"--state-dir", dir_.string(), "--twice", "ChargeCard"});
  }

  virtual std::string sagas_dir() { return kSource + "/examples/sagas"; }

  std::unique_ptr<BackgroundProcess> start_services(const std::vector<std::string>& flags) {
    auto argv = services_command(GetParam());
    argv.insert(argv.end(), {"--brokers", line_value(run_->out(), "bootstrap: ")});
    argv.insert(argv.end(), flags.begin(), flags.end());
    return std::make_unique<BackgroundProcess>(argv);
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

// The order saga with every timeout at kTimeout: its commands expire soon after they are sent.
class FreshGroup : public Participants {
 protected:
  static constexpr std::chrono::seconds kTimeout{3};

  std::string sagas_dir() override {
    fs::create_directories(dir_ / "sagas");
    std::ifstream in(kSource + "/examples/sagas/order-fulfilment.yaml");
    std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    yaml = std::regex_replace(yaml, std::regex("timeout: [0-9]+s"), "timeout: " + std::to_string(kTimeout.count()) + "s");
    std::ofstream(dir_ / "sagas" / "order-fulfilment.yaml") << yaml;
    return (dir_ / "sagas").string();
  }
};

std::size_t count_lines(const std::string& text, const std::vector<std::string>& parts) {
  std::size_t n = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (std::all_of(parts.begin(), parts.end(), [&](const auto& p) { return line.find(p) != std::string::npos; })) ++n;
  }
  return n;
}

TEST_P(FreshGroup, AServiceOnANewConsumerGroupSkipsTheCommandsOfFinishedSagas) {
  auto before = start("before", R"({"orderId": "o-1", "amount": 42, "items": [], "express": true})");
  ASSERT_EQ(before.exit_code, 0) << before.out << before.err << services_->err();
  auto status = run_process({kBin, "status", "before", "--config", config_, "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const std::regex attempts("\"attempts\":([0-9]+)");
  std::ptrdiff_t commands = 0;  // one per attempt
  for (auto it = std::sregex_iterator(status.out.begin(), status.out.end(), attempts); it != std::sregex_iterator(); ++it) {
    commands += std::stoi((*it)[1]);
  }
  ASSERT_GT(commands, 2) << status.out;
  services_.reset();
  // Every command of "before" was sent before it completed, so each expired by then + kTimeout.
  auto expired = std::chrono::system_clock::now() + kTimeout + std::chrono::milliseconds(200);
  ASSERT_TRUE(await([&] { return std::chrono::system_clock::now() > expired; }));

  // A new group (say, the service rewritten in another language) with a new reply log: it reads
  // every command from the start of its topics.
  auto fresh = start_services({"--state-dir", (dir_ / "fresh").string(), "--group-prefix", "rewritten-"});
  auto after = start("after", R"({"orderId": "o-2", "amount": 42, "items": [], "express": true})");
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err << fresh->err();
  auto log = [&] { return fresh->out() + fresh->err(); };
  EXPECT_TRUE(await([&] {
    return count_lines(log(), {"saga=before step=", ": skipped, it expired at"}) >= static_cast<std::size_t>(commands);
  })) << "each of the " << commands << " commands of \"before\" is skipped:\n" << log();
  EXPECT_EQ(count_lines(log(), {"for saga before"}), 0u) << log();
  EXPECT_GT(count_lines(log(), {"for saga after"}), 0u) << log();
}

INSTANTIATE_TEST_SUITE_P(Sdk, FreshGroup, ::testing::Values("cpp", "python", "node"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

INSTANTIATE_TEST_SUITE_P(Sdk, Participants, ::testing::Values("cpp", "python", "node"),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
