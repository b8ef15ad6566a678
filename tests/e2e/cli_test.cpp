// End-to-end: the built `sagactl validate` and `sagactl graph`, run as a user would, checking
// stdout, stderr and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/e2e/process.h"

namespace {

namespace fs = std::filesystem;
using testing_support::ProcessResult;
using testing_support::run_process;

const std::string kBin = SAGACTL_BIN;
const std::string kExamples = std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas";

ProcessResult sagactl(std::vector<std::string> args) {
  args.insert(args.begin(), kBin);
  return run_process(args);
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sagactl-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }

  fs::path dir_;
};

TEST_F(Cli, ValidateExamplesPrintsOneLinePerSagaAndExitsZero) {
  auto r = sagactl({"validate", kExamples});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(r.out,
            "ok  money-transfer v1  " + kExamples + "/money-transfer.yaml  (5 steps, pivot clear, sequential compensation)\n"
            "ok  order-fulfilment v2  " + kExamples + "/order-fulfilment.yaml  (5 steps, 1 parallel group, pivot confirm-order, sequential compensation)\n"
            "ok  travel-booking v1  " + kExamples + "/travel-booking.yaml  (5 steps, 1 parallel group, parallel compensation)\n");
}

TEST_F(Cli, ValidateReportsEveryErrorWithPositionAndExitsOne) {
  auto bad = write("bad.yaml",
                   "apiVersion: saga/v1\nsaga: s\nsteps:\n"
                   "  - name: a\n    topic: t\n    command: C\n    timout: 5s\n"
                   "  - {name: b, topic: t, command: C, payload: {x: \"${steps.c.reply.id}\"}}\n"
                   "  - {name: c, topic: t, command: C}\n");
  auto good = write("good.yaml", "apiVersion: saga/v1\nsaga: g\nsteps: [{name: a, topic: t, command: C}]\n");
  auto r = sagactl({"validate", bad, good});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "ok  g v1  " + good + "  (1 step, sequential compensation)\n");
  EXPECT_EQ(r.err, bad + ":7:5: error: unknown key \"timout\" in step \"a\" (did you mean \"timeout\"?)\n" +
                       bad + ":8:50: error: ${steps.c.reply.id}: step \"c\" runs after \"b\"; a template can only "
                             "use steps that ran before it\n"
                             "validate: 2 errors in 2 files\n");
}

TEST_F(Cli, ValidateReportsYamlSyntaxErrorsInTheSameFormat) {
  auto bad = write("syntax.yaml", "apiVersion: saga/v1\nsaga: s\nsteps:\n  - name: a\n   bad: indent\n");
  auto r = sagactl({"validate", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, bad + ":5:4: error: YAML syntax: end of sequence not found\n"
                         "validate: 1 error in 1 file\n");
}

TEST_F(Cli, ValidateStrictReportsWarningsAndFailsOnThem) {
  auto r = sagactl({"validate", "--strict", kExamples + "/money-transfer.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, kExamples + "/money-transfer.yaml:20:11: warning: step \"check-limits\" has no compensation: "
                               "if a later step fails, nothing undoes it (fine if it changes nothing)\n"
                               "validate: 0 errors, 1 warning (--strict fails on warnings) in 1 file\n");
  EXPECT_EQ(sagactl({"validate", kExamples + "/money-transfer.yaml"}).exit_code, 0);
}

TEST_F(Cli, ValidateMissingPathSaysSo) {
  auto r = sagactl({"validate", (dir_ / "nope.yaml").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, (dir_ / "nope.yaml").string() + ": error: no such file or directory\n"
                                                    "validate: 1 error in 0 files\n");
}

TEST_F(Cli, UsageErrorsExitOneWithAHint) {
  auto r = sagactl({"validate"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("paths is required"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
  EXPECT_EQ(sagactl({"frobnicate"}).exit_code, 1);
}

// Each mistake a new user makes, and the fix its message names (exit 1 for each).
TEST_F(Cli, EveryUsageMistakeNamesItsFix) {
  auto expect = [](const std::vector<std::string>& args, const std::string& fix) {
    auto r = sagactl(args);
    EXPECT_EQ(r.exit_code, 1) << args[0];
    EXPECT_NE(r.err.find(fix), std::string::npos) << args[0] << " should say " << fix << ", said: " << r.err;
  };
  expect({"stauts", "x"}, "\"stauts\" is not a command; did you mean \"status\"?");
  expect({"frobnicate"}, "\"frobnicate\" is not a command (sagactl --help lists them)");
  expect({"list", "--limt", "3"}, "unknown option \"--limt\"; did you mean \"--limit\"?");
  expect({"run", "--brokrs=x"}, "unknown option \"--brokrs\"; did you mean \"--brokers\"?");

  std::string notes = write("notes.txt", "not a database\n");
  std::string empty = write("empty.db", "");
  for (const auto& command : std::vector<std::vector<std::string>>{{"list"}, {"status", "x"}, {"history", "x"}}) {
    auto with = [&](const std::string& state) {
      auto args = command;
      args.insert(args.end(), {"--state", state});
      return args;
    };
    expect(with(notes), notes + " is not a SQLite database: point --state (or state: in sagactl.yaml) at the file");
    expect(with(empty), empty + " is empty: no orchestrator has written to it yet: point --state");
  }
}

TEST_F(Cli, HelpListsTheCommandsAndExitsZero) {
  auto r = sagactl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("validate"), std::string::npos);
  EXPECT_NE(r.out.find("graph"), std::string::npos);
}

TEST_F(Cli, GraphPrintsDotThatGraphvizRenders) {
  auto r = sagactl({"graph", kExamples + "/order-fulfilment.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("digraph \"order-fulfilment v2\" {", 0), 0u);
  if (!fs::exists("/usr/bin/dot")) GTEST_SKIP() << "graphviz is not installed (scripts/setup.sh installs it)";
  auto dot_file = write("g.dot", r.out);
  auto svg = run_process({"/usr/bin/dot", "-Tsvg", dot_file});
  EXPECT_EQ(svg.exit_code, 0) << svg.err;
  EXPECT_EQ(svg.err, "");
  EXPECT_NE(svg.out.find("<svg"), std::string::npos);
  EXPECT_NE(svg.out.find("confirm&#45;order"), std::string::npos);
}

TEST_F(Cli, GraphPrintsMermaid) {
  auto r = sagactl({"graph", "--format", "mermaid", kExamples + "/travel-booking.yaml"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("flowchart TD\n"), std::string::npos);
  EXPECT_NE(r.out.find("subgraph g0 [\"parallel: bookings\"]"), std::string::npos);
}

TEST_F(Cli, GraphOfAFolderSaysToNameOneFile) {
  auto r = sagactl({"graph", kExamples});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("is a folder; graph draws one saga: name one of its files"), std::string::npos) << r.err;
}

TEST_F(Cli, GraphRejectsUnknownFormat) {
  auto r = sagactl({"graph", "--format", "png", kExamples + "/travel-booking.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("png"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST_F(Cli, GraphOfAnInvalidFilePrintsDiagnosticsAndNothingElse) {
  auto bad = write("bad.yaml", "apiVersion: saga/v1\nsaga: s\nsteps: []\n");
  auto r = sagactl({"graph", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, bad + ":3:8: error: \"steps\" must list at least one step\n"
                         "graph: " + bad + " has errors; fix them (see `sagactl validate`) first\n");
}

}  // namespace
