// `sagactl run` on PostgreSQL, end to end with the real binaries: a throwaway server (initdb
// in a temporary directory, a free port), `state: postgresql://…` in sagactl.yaml, the order
// services as a separate process, and the CLI reading the same database by its URL.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <chrono>
#include <fstream>
#include <iostream>

#include "server/admin.h"
#include "tests/e2e/orchestrator_fixture.h"
#include "tests/e2e/process.h"
#include "tests/support/postgres_server.h"

namespace {

namespace fs = std::filesystem;
using testing_support::await;
using testing_support::line_value;
using testing_support::ProcessResult;
using testing_support::run_process;

const std::string kBin = SAGACTL_BIN;
const std::string kExamples = std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas";

const std::string kGoodOrder = R"({"orderId": "o-1", "amount": 42, "items": [], "express": true})";
const std::string kDeclined = R"({"orderId": "o-2", "amount": 5000, "items": [], "express": true})";

class OnPostgres : public testing_support::OrchestratorFixture {
 protected:
  void SetUp() override {
    auto server = testing_support::PostgresServer::start();
    ASSERT_TRUE(server.ok()) << server.error().message;
    server_ = std::move(server).value();
    auto url = server_->create_database("orders");
    ASSERT_TRUE(url.ok()) << url.error().message;
    url_ = *url;
    make_dir("sagactl-pg-run-");
    fs::copy_file(kExamples + "/order-fulfilment.yaml", dir_ / "sagas" / "order-fulfilment.yaml");
    std::ofstream(config_) << "sagas: sagas\nstate: " << url_
                           << "\nkafka:\n  brokers: embedded\n  embedded_port: 0\nadmin: 127.0.0.1:0\nlog: {level: warn}\n";
  }

  // The CLI with the database's URL as --state and no config file: any machine that reaches
  // the database sees the sagas.
  ProcessResult sagactl(std::vector<std::string> args) override {
    args.insert(args.begin(), kBin);
    if (args[1] == "start" || args[1] == "compensate") {
      args.insert(args.end(), {"--admin", admin_});
    } else {
      args.insert(args.end(), {"--state", url_});
    }
    return run_process(args, dir_.string());
  }

  std::unique_ptr<testing_support::PostgresServer> server_;  // outlives the processes (TearDown)
  std::string url_;
};

TEST_F(OnPostgres, TheOrderSagaRunsAndTheCliReadsItByTheDatabasesUrl) {
  start_run();
  start_services();
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "pg-ok"}).exit_code, 0);
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kDeclined, "--id", "pg-declined"}).exit_code, 0);
  EXPECT_TRUE(await([&] { return state_of("pg-ok") == "completed"; })) << state_of("pg-ok") << run_->err();
  EXPECT_TRUE(await([&] { return state_of("pg-declined") == "compensated"; })) << state_of("pg-declined");
  auto list = sagactl({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("pg-ok"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("pg-declined"), std::string::npos) << list.out;
  auto history = sagactl({"history", "pg-decl"});  // an id prefix, as with a file
  EXPECT_EQ(history.exit_code, 0) << history.err;
  EXPECT_NE(history.out.find("step-compensated"), std::string::npos) << history.out;
  auto missing = sagactl({"status", "no-such-saga"});
  EXPECT_EQ(missing.exit_code, 1) << missing.err;
  EXPECT_NE(missing.err.find("no saga with id \"no-such-saga\" in " + url_), std::string::npos) << missing.err;
}

TEST_F(OnPostgres, AKilledRunResumesFromTheDatabase) {
  start_run();
  start_services({"--silent", "CreateInvoice"});
  ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "pg-k"}).exit_code, 0);
  ASSERT_TRUE(await([&] {
    return sagactl({"history", "pg-k", "--json"}).out.find(R"("event":"step-started","step":"create-invoice")") !=
           std::string::npos;
  }));
  run_->signal(SIGKILL);
  EXPECT_EQ(run_->wait(), -SIGKILL);
  EXPECT_EQ(state_of("pg-k"), "running");
  services_.reset();
  start_run();  // the killed session's lock is waited for, then taken with a new epoch
  start_services();
  EXPECT_TRUE(await([&] { return state_of("pg-k") == "completed"; }, std::chrono::seconds(60))) << state_of("pg-k");
  auto history = sagactl({"history", "pg-k", "--json"}).out;
  EXPECT_EQ(history.find("saga-started"), history.rfind("saga-started")) << "started twice: " << history;
}

// A paused or cut-off orchestrator whose session the server ended, replaced by another: at its
// next commit it learns it was fenced off, says so and exits, and the new one runs the saga.
TEST_F(OnPostgres, AnOrchestratorReplacedByAnotherStopsAtItsNextCommit) {
  start_run();
  auto old_run = std::move(run_);
  std::string old_admin = admin_;
  auto cut = run_process({"/usr/bin/psql", url_, "-Atc",
                          "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                          "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"});
  ASSERT_EQ(cut.exit_code, 0) << cut.err;
  ASSERT_EQ(cut.out, "1\n") << "the old orchestrator's session held the lock";
  start_run();  // takes the lock and a new epoch at once: the old session is gone
  admin_ = old_admin;
  auto refused = sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", "too-late"});
  EXPECT_EQ(old_run->wait(), 1) << old_run->err();
  EXPECT_NE(old_run->err().find("has taken the journal in"), std::string::npos) << old_run->err();
  EXPECT_NE(old_run->err().find("this one must stop"), std::string::npos) << old_run->err();
  EXPECT_NE(refused.exit_code, 0) << "its start was never confirmed: " << refused.out;
  EXPECT_EQ(state_of("too-late"), "") << "nothing of the old owner landed";
}

// A hot standby: a second `sagactl run --standby` on the same database waits, serving
// nothing, until the owner is killed; then it takes the database over and runs its sagas.
TEST_F(OnPostgres, AStandbyTakesOverWhenTheOwnerIsKilled) {
  testing_support::BackgroundProcess broker({kBin, "dev-broker", "--port", "0", "--sagas", (dir_ / "sagas").string()});
  ASSERT_TRUE(await([&] { return !line_value(broker.out(), "bootstrap: ").empty(); })) << broker.err();
  std::ofstream(config_) << "sagas: sagas\nstate: " << url_ << "\nkafka:\n  brokers: " << line_value(broker.out(), "bootstrap: ")
                         << "\nadmin: 127.0.0.1:0\nlog: {level: info}\n";
  start_run();
  bootstrap_ = line_value(broker.out(), "bootstrap: ");
  for (const char* id : {"hot-1", "hot-2", "hot-3"}) {
    ASSERT_EQ(sagactl({"start", "order-fulfilment", "--input", kGoodOrder, "--id", id}).exit_code, 0);
  }
  testing_support::BackgroundProcess standby({kBin, "run", "--config", config_, "--standby"});
  ASSERT_TRUE(await([&] { return standby.err().find("standby: waiting to take") != std::string::npos; })) << standby.err();
  EXPECT_EQ(line_value(standby.out(), "admin: "), "") << "a standby serves nothing while the owner lives";
  EXPECT_EQ(state_of("hot-1"), "running") << "nobody answers yet";

  run_->signal(SIGKILL);
  auto killed = std::chrono::steady_clock::now();
  EXPECT_EQ(run_->wait(), -SIGKILL);
  ASSERT_TRUE(await([&] { return !line_value(standby.out(), "admin: ").empty(); })) << standby.err();
  admin_ = line_value(standby.out(), "admin: ");
  ASSERT_TRUE(await([&] {
    auto r = server::http_request(admin_, "GET", "/readyz");
    return r.ok() && r->status == 200;
  })) << standby.err();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed);
  EXPECT_NE(standby.err().find("standby: took"), std::string::npos) << standby.err();
  start_services();
  for (const char* id : {"hot-1", "hot-2", "hot-3"}) {
    EXPECT_TRUE(await([&] { return state_of(id) == "completed"; })) << id << ": " << state_of(id);
    auto history = sagactl({"history", id, "--json"}).out;
    EXPECT_EQ(history.find("saga-started"), history.rfind("saga-started")) << "started twice: " << history;
  }
  std::cout << "[ failover ] the standby was ready " << took.count() << " ms after the owner was killed\n";
  standby.signal(SIGTERM);
  EXPECT_EQ(standby.wait(), 0) << standby.err();
}

TEST_F(OnPostgres, AnUnreachableDatabaseIsReportedWithoutItsPassword) {
  std::ofstream(config_) << "sagas: sagas\nstate: postgresql://sagactl:hunter2@127.0.0.1:1/orders\n"
                         << "kafka:\n  brokers: embedded\n  embedded_port: 0\nadmin: 127.0.0.1:0\n";
  auto run = run_process({kBin, "run", "--config", config_});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("cannot connect to PostgreSQL at postgresql://sagactl:***@127.0.0.1:1/orders"), std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("hunter2"), std::string::npos) << run.err;
}

}  // namespace
