// The Operator fixture of the e2e tests that drive `sagactl run` as an operator would: a
// config file with the example order saga and a quick one, an embedded broker on a free port,
// the admin endpoint on a free port (operator_test.cpp, hostile_input_test.cpp).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/e2e/orchestrator_fixture.h"
#include "tests/e2e/process.h"

namespace operator_test {

namespace fs = std::filesystem;
using testing_support::BackgroundProcess;
using testing_support::ProcessResult;
using testing_support::run_process;
using testing_support::await;
using testing_support::line_value;

inline const std::string kBin = SAGACTL_BIN;
inline const std::string kExamples = std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas";

// A small saga on the order services' topics, with timeouts short enough for tests and long
// enough that a test (even under a sanitizer) acts while a step is still in flight.
inline const char* const kQuickSaga = R"(apiVersion: saga/v1
saga: quick-order
defaults:
  timeout: 3s
  retry: {max_attempts: 5, backoff: fixed, initial: 100ms}
  reply_topic: order-fulfilment.replies
compensation: {retry: {max_attempts: 10, initial: 100ms, max: 1s}}
steps:
  - name: reserve-stock
    topic: inventory.commands
    command: ReserveStock
    payload: {orderId: "${input.orderId}"}
    compensation: {command: ReleaseStock, payload: {orderId: "${input.orderId}"}}
  - name: create-invoice
    topic: billing.commands
    command: CreateInvoice
    payload: {orderId: "${input.orderId}"}
    compensation: {command: VoidInvoice, payload: {orderId: "${input.orderId}"}}
)";



class Operator : public testing_support::OrchestratorFixture {
 protected:
  void SetUp() override {
    make_dir("sagactl-op-");
    fs::copy_file(kExamples + "/order-fulfilment.yaml", dir_ / "sagas" / "order-fulfilment.yaml");
    std::ofstream(dir_ / "sagas" / "quick-order.yaml") << kQuickSaga;
    std::ofstream(config_) << "sagas: " << (dir_ / "sagas").string() << "\nstate: " << (dir_ / "state.db").string()
                           << "\nkafka:\n  brokers: embedded\n  embedded_port: 0\nadmin: 127.0.0.1:0\nlog: {level: warn}\n";
  }

  ProcessResult sagactl(std::vector<std::string> args) override {
    args.insert(args.begin(), kBin);
    args.insert(args.end(), {"--config", config_});
    if (args[1] == "start" || args[1] == "compensate") args.insert(args.end(), {"--admin", admin_});
    return run_process(args);
  }
};

inline const std::string kGoodOrder = R"({"orderId": "o-1", "amount": 42, "items": [], "express": true})";
inline const std::string kDeclined = R"({"orderId": "o-2", "amount": 5000, "items": [], "express": true})";

}  // namespace operator_test
