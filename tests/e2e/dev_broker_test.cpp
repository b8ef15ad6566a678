// `sagactl dev-broker` is a real Kafka-protocol broker: kcat (another Kafka client) starts a
// saga through it, reads the command `sagactl run` sent, and answers it; the orchestrator
// takes the answer and sends the next step's command.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "server/admin.h"
#include "tests/e2e/process.h"

namespace {

namespace fs = std::filesystem;
using testing_support::BackgroundProcess;
using testing_support::run_process;

const std::string kBin = SAGACTL_BIN;
const std::string kOrder = std::string(SAGACTL_SOURCE_DIR) + "/examples/sagas/order-fulfilment.yaml";

// Polls `probe` until it returns something non-empty, for at most `limit`.
std::string await(const std::function<std::string()>& probe, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto until = std::chrono::steady_clock::now() + limit;
  for (;;) {
    std::string got = probe();
    if (!got.empty() || std::chrono::steady_clock::now() > until) return got;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a condition poll, not a timing assumption
  }
}

bool have_kcat() { return run_process({"/bin/sh", "-c", "command -v kcat"}).exit_code == 0; }

TEST(DevBroker, PrintsOneBootstrapAddressThatLeadsToEveryBrokerAndStopsOnSigterm) {
  BackgroundProcess broker({kBin, "dev-broker", "--port", "0", "--brokers", "3"});
  std::string line = await([&] {
    std::string out = broker.out();
    return out.find('\n') == std::string::npos ? std::string() : out.substr(0, out.find('\n'));
  });
  ASSERT_TRUE(line.rfind("bootstrap: 127.0.0.1:", 0) == 0) << line;
  EXPECT_EQ(line.find(','), std::string::npos) << "one bootstrap address, the fixed port: " << line;
  if (have_kcat()) {
    auto meta = run_process({"/usr/bin/kcat", "-b", line.substr(line.find(' ') + 1), "-L", "-m", "10"});
    EXPECT_NE(meta.out.find(" 3 brokers:"), std::string::npos) << meta.out << meta.err;
  }
  broker.signal(SIGTERM);
  EXPECT_EQ(broker.wait(), 0);
}

TEST(DevBroker, TheDefaultPortIsFixedAndABusyPortIsReportedClearly) {
  auto help = run_process({kBin, "dev-broker", "--help"});
  EXPECT_NE(help.out.find("19092"), std::string::npos) << help.out;
  BackgroundProcess first({kBin, "dev-broker", "--port", "0"});
  std::string line = await([&] {
    std::string out = first.out();
    return out.find('\n') == std::string::npos ? std::string() : out.substr(0, out.find('\n'));
  });
  ASSERT_FALSE(line.empty()) << first.err();
  std::string port = line.substr(line.rfind(':') + 1);
  auto second = run_process({kBin, "dev-broker", "--port", port});
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("cannot listen on 127.0.0.1:" + port), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("choose another port"), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("--port"), std::string::npos) << second.err;

  // `run` with its embedded broker on the same port names its own flag, and what participants
  // then need; a run that starts prints the console's address among its first lines.
  fs::path dir = fs::temp_directory_path() / ("sagactl-busy-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto busy = run_process({kBin, "run", "--sagas", kOrder, "--state", (dir / "s.db").string(), "--brokers", "embedded",
                           "--embedded-port", port, "--admin", "127.0.0.1:0"});
  EXPECT_EQ(busy.exit_code, 1);
  EXPECT_NE(busy.err.find("--embedded-port"), std::string::npos) << busy.err;
  EXPECT_NE(busy.err.find("participants then need --brokers"), std::string::npos) << busy.err;
  BackgroundProcess run({kBin, "run", "--sagas", kOrder, "--state", (dir / "s.db").string(), "--brokers", "embedded",
                         "--embedded-port", "0", "--admin", "127.0.0.1:0"});
  std::string console = await([&] { return testing_support::line_value(run.out(), "console: "); });
  EXPECT_EQ(console.rfind("http://127.0.0.1:", 0), 0u) << run.out() << run.err();
  EXPECT_EQ(console.back(), '/') << console;
  EXPECT_NE(run.err().find("console: " + console), std::string::npos) << "and in the log: " << run.err();
  EXPECT_TRUE(testing_support::await([&] {
    auto r = server::http_request(testing_support::line_value(run.out(), "admin: "), "GET", "/readyz");
    return r.ok() && r->status == 200;
  })) << run.err();
  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(), 0) << run.err();
  fs::remove_all(dir);
}

// A C++ participant started before its brokers says so in one line per client, naming them,
// stays stoppable, and consumes once they answer (the Python and Node SDKs' tests show theirs).
TEST(DevBroker, AParticipantBeforeItsBrokersSaysSoOnceAndServesWhenTheyCome) {
  BackgroundProcess probe({kBin, "dev-broker", "--port", "0"});  // for a free port number
  std::string line = await([&] { return testing_support::line_value(probe.out(), "bootstrap: "); });
  ASSERT_FALSE(line.empty()) << probe.err();
  probe.signal(SIGTERM);
  ASSERT_EQ(probe.wait(), 0);
  fs::path dir = fs::temp_directory_path() / ("sagactl-early-" + std::to_string(::getpid()));
  BackgroundProcess services({ORDER_SERVICES_BIN, "--brokers", line, "--service", "inventory", "--state-dir",
                              dir.string()});
  std::string said = await([&] {
    return services.err().find("unreachable") == std::string::npos ? std::string() : services.err();
  });
  EXPECT_NE(said.find("kafka: brokers " + line + " unreachable; retrying until they answer"), std::string::npos)
      << said;
  std::string port = line.substr(line.rfind(':') + 1);
  BackgroundProcess broker({kBin, "dev-broker", "--port", port});
  std::string consuming = await([&] {  // consuming at once, or after a retry
    std::string e = services.err();
    bool up = e.find("kafka: brokers " + line + " answer again") != std::string::npos &&
              (e.find("inventory serving inventory.commands") != std::string::npos);
    return up ? e : std::string();
  });
  EXPECT_FALSE(consuming.empty()) << services.err();
  std::string err = services.err();
  std::size_t lines = 0;
  for (std::size_t at = err.find("unreachable"); at != std::string::npos; at = err.find("unreachable", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << "one line, not one per connection attempt:\n" << err;
  EXPECT_EQ(err.find("Connection refused"), std::string::npos) << err;
  services.signal(SIGTERM);
  EXPECT_EQ(services.wait(), 0) << services.err();
  broker.signal(SIGTERM);
  broker.wait();
  fs::remove_all(dir);
}

TEST(DevBroker, KcatStartsASagaReadsItsCommandAndAnswersIt) {
  if (!have_kcat()) GTEST_SKIP() << "kcat is not installed (scripts/setup.sh installs it)";
  fs::path dir = fs::temp_directory_path() / ("sagactl-kcat-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "input.json") << R"({"orderId": "o-1", "amount": 5, "items": [], "express": false})";
  std::ofstream(dir / "reply.json") << R"({"reservationId": "r-77"})";

  BackgroundProcess broker({kBin, "dev-broker", "--port", "0", "--sagas", kOrder});
  std::string bootstrap = await([&] {
    std::string out = broker.out();
    auto nl = out.find('\n');
    return nl == std::string::npos ? std::string() : out.substr(11, nl - 11);
  });
  ASSERT_FALSE(bootstrap.empty()) << broker.err();
  BackgroundProcess orchestrator({kBin, "run", "--sagas", kOrder, "--state", (dir / "state.db").string(), "--brokers",
                                  bootstrap, "--consume", "assign", "--log-level", "warn"});

  // kcat gives up at once when its first connections drop (seen once under a loaded CI
  // machine, while the broker was still creating its topics): it is tried again until it
  // delivers. A second delivery would not matter: the start topic starts a saga once per id.
  testing_support::ProcessResult r;
  ASSERT_TRUE(testing_support::await([&] {
    r = run_process({"/usr/bin/kcat", "-P", "-b", bootstrap, "-t", "sagas.start", "-k", "kcat-1", "-H",
                     "saga-name=order-fulfilment", "-H", "saga-id=kcat-1", (dir / "input.json").string()});
    return r.exit_code == 0;
  }))
      << r.err;

  auto consume = [&](const std::string& topic) {
    return await([&] {
      auto c = run_process({"/usr/bin/kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f",
                            "%k|%h|%s\\n"});
      return c.out;
    });
  };
  std::string command = consume("inventory.commands");
  EXPECT_NE(command.find("kcat-1|"), std::string::npos) << command << orchestrator.err();
  EXPECT_NE(command.find("saga-command=ReserveStock"), std::string::npos) << command;
  EXPECT_NE(command.find("message-id=kcat-1/reserve-stock/execute/1"), std::string::npos) << command;
  EXPECT_NE(command.find(R"({"orderId":"o-1","items":[]})"), std::string::npos) << command;

  r = run_process({"/usr/bin/kcat", "-P", "-b", bootstrap, "-t", "order-fulfilment.replies", "-k", "kcat-1", "-H",
                   "saga-id=kcat-1", "-H", "saga-step=reserve-stock", "-H", "saga-action=execute", "-H",
                   "in-reply-to=kcat-1/reserve-stock/execute/1", "-H", "outcome=success",
                   (dir / "reply.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string next = consume("payments.commands");
  EXPECT_NE(next.find("saga-command=ChargeCard"), std::string::npos) << next << orchestrator.err();

  orchestrator.signal(SIGTERM);
  EXPECT_EQ(orchestrator.wait(), 0) << orchestrator.err();
  broker.signal(SIGTERM);
  EXPECT_EQ(broker.wait(), 0);
  fs::remove_all(dir);
}

}  // namespace
