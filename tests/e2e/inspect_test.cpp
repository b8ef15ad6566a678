// `sagactl status`, `list` and `history` on a real state file (written by the embedded demo:
// order-1 completed, order-2 compensated), as a user runs them: tables, the JSON shapes of docs/sagactl.md,
// errors and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/e2e/process.h"

namespace {

namespace fs = std::filesystem;
using testing_support::ProcessResult;
using testing_support::run_process;

const std::string kBin = SAGACTL_BIN;
const std::string kSagas = std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas";

class Inspect : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    state_ = (fs::temp_directory_path() / ("sagactl-inspect-" + std::to_string(::getpid()) + ".db")).string();
    auto r = run_process({EMBEDDED_DEMO_BIN, "--state", state_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    for (const char* suffix : {"", "-wal", "-shm", ".lock"}) fs::remove(state_ + suffix);
  }
  ProcessResult sagactl(std::vector<std::string> args) {
    args.insert(args.begin(), kBin);
    args.insert(args.end(), {"--state", state_, "--sagas", kSagas});
    return run_process(args);
  }
  static inline std::string state_;
};

const std::string kTime = R"("\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")";

TEST_F(Inspect, StatusJsonHasTheSpecShapeWithStepsInDefinitionOrder) {
  auto r = sagactl({"status", "order-2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::regex shape("\\{\"id\":\"order-2\",\"saga\":\"order-fulfilment\",\"version\":2,\"state\":\"compensated\","
                   "\"created_at\":" + kTime + ",\"updated_at\":" + kTime +
                   ",\"error\":\"step \\\\\"charge-card\\\\\" failed: card declined\",\"input\":\\{.*\\},\"output\":null,"
                   "\"steps\":\\[.*\\]\\}\n");
  EXPECT_TRUE(std::regex_match(r.out, shape)) << r.out;
  auto pos = [&](const std::string& s) { return r.out.find("\"name\":\"" + s + "\""); };
  EXPECT_LT(pos("reserve-stock"), pos("charge-card"));
  EXPECT_LT(pos("charge-card"), pos("create-invoice"));
  EXPECT_LT(pos("create-invoice"), pos("confirm-order"));
  EXPECT_LT(pos("confirm-order"), pos("ship"));
  EXPECT_NE(r.out.find(R"("name":"confirm-order","state":"pending","attempts":0,"compensation_attempts":0,"started_at":null,"finished_at":null,"error":null,"request":null,"reply":null)"),
            std::string::npos)
      << r.out;
}

TEST_F(Inspect, StatusTableShowsEachStep) {
  auto r = sagactl({"status", "order-2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("state    compensated"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\n  charge-card +failed +1 +- +.* card declined\n"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\nreserve-stock +compensated +1 +1 "))) << "UNDO: " << r.out;
  EXPECT_EQ(r.out.find("\033["), std::string::npos);  // no colours when not a terminal
}
TEST_F(Inspect, StatusShowsTheInputEachStepsRequestAndReplyAndACompletedSagasOutput) {
  auto table = sagactl({"status", "order-1", "--show", "payloads"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("\ninput  {\"orderId\":\"o-1\""), std::string::npos) << table.out;
  EXPECT_TRUE(std::regex_search(table.out, std::regex("\nreserve-stock\n  request  \\{.*\"orderId\":\"o-1\".*\n  reply    \\{"
                                                      "\"reservationId\":")))
      << table.out;
  auto json = sagactl({"status", "order-1", "--json"});
  EXPECT_TRUE(std::regex_search(json.out, std::regex("\"output\":\\{\"reserve-stock\":\\{\"reservationId\":")))
      << json.out;
}
TEST_F(Inspect, AnAmbiguousIdPrefixNamesTheSagasItMatches) {
  auto prefix = sagactl({"status", "order-"});
  EXPECT_EQ(prefix.exit_code, 1);
  EXPECT_NE(prefix.err.find("the id prefix \"order-\" matches more than one saga (order-1, order-2); give more"),
            std::string::npos)
      << prefix.err;
  auto history = sagactl({"history", "order"});
  EXPECT_EQ(history.exit_code, 1);
  EXPECT_NE(history.err.find("matches more than one saga"), std::string::npos) << history.err;
  auto none = sagactl({"status", "nothing"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no saga with id \"nothing\""), std::string::npos) << none.err;
}

TEST_F(Inspect, ListFiltersPagesAndHasTheSpecShape) {
  auto r = sagactl({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("\"steps\""), std::string::npos);
  EXPECT_NE(r.out.find(R"({"id":"order-1","saga":"order-fulfilment","version":2,"state":"completed")"), std::string::npos);
  auto only = sagactl({"list", "--status", "compensated", "--json"});
  EXPECT_EQ(only.out.find("order-1"), std::string::npos) << only.out;
  EXPECT_NE(only.out.find("order-2"), std::string::npos) << only.out;
  auto page = sagactl({"list", "--limit", "1"});
  EXPECT_NE(page.out.find("(more may follow: --offset 1)"), std::string::npos) << page.out;
  auto none = sagactl({"list", "--saga", "travel-booking", "--json"});
  EXPECT_EQ(none.out, "[]\n");
}

TEST_F(Inspect, HistoryIsOldestFirst) {
  auto r = sagactl({"history", "order-1", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("^\\[\\{\"at\":" + kTime + ",\"event\":\"saga-started\",\"step\":null,"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex("\"event\":\"saga-completed\",\"step\":null,\"detail\":\"\"\\}\\]\n$"))) << r.out;
}

TEST_F(Inspect, ErrorsSayWhatToDoAndExit1) {
  auto unknown = sagactl({"status", "order-9"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.err, "status: no saga with id \"order-9\" in " + state_ + " (sagactl list shows the ids)\n");
  auto bad_state = sagactl({"list", "--status", "done"});
  EXPECT_EQ(bad_state.exit_code, 1);
  EXPECT_NE(bad_state.err.find("use running, completed, compensating, compensated or failed"), std::string::npos);
  auto missing = run_process({kBin, "history", "order-1", "--state", "/nonexistent/s.db"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "history: no state file at /nonexistent/s.db: point --state at the orchestrator's file\n");
}

}  // namespace
