// Chaos: a thousand sagas over the development broker while `sagactl run` is killed with
// SIGKILL at random moments, with `consume: assign` and with `consume: group`. Steps time
// out after 4 s and two attempts, less than a restart takes in
// group mode (the mock cluster waits out the dead member's session): only the rule that time
// is the participant's keeps those sagas from failing. Participants
// (the SDK, with a SQLite reply log per service) run in this process and log every command
// they execute. Whatever the kills, every saga ends as its participants decided:
//  - no failing step: completed, and no compensation was ever executed;
//  - step X fails: compensated, X not compensated, every step that had succeeded undone;
//  - no idempotency key executed twice, and one key per saga, step and action.
// Filters are written with designated initializers; GCC's -Wextra would ask for every field.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "server/admin.h"
#include "kafka/transport.h"
#include "participant/kafka_participant.h"
#include "cli/open_store.h"
#include "tests/support/postgres_server.h"
#include "tests/e2e/process.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using participant::Command;
using participant::Reply;
using testing_support::BackgroundProcess;
using testing_support::await;
using testing_support::line_value;

constexpr int kSagas = 1000;
constexpr int kKills = 5;
const std::vector<std::string> kSteps = {"reserve", "charge", "invoice", "confirm"};
// Saga n fails at kFailAt[n % size]: "" = no step fails.
const std::vector<std::string> kFailAt = {"", "", "", "", "", "reserve", "charge", "invoice", "confirm", ""};

// A step's timeout. The participants (one thread, a reply log that syncs each reply) work
// through a chunk of starts at the machine's pace: on a loaded 2-core machine (or under a
// sanitizer) that took over 1 s, a timeout was then the participant's, as the contract says,
// and the saga rightly failed. 4 s is still less than a restart in group mode (the session
// below is 6 s), so a timeout that outlived the orchestrator's downtime would still show.
#define CHAOS_STEP_TIMEOUT "4s"

const char* const kSaga = R"(apiVersion: saga/v1
saga: chaos
defaults:
  timeout: )" CHAOS_STEP_TIMEOUT R"(
  retry: {max_attempts: 2, backoff: fixed, initial: 200ms, max: 200ms, jitter: false}
  reply_topic: chaos.replies
compensation:
  strategy: sequential
  retry: {max_attempts: forever, backoff: fixed, initial: 200ms, max: 1s, jitter: false}
steps:
  - name: reserve
    topic: chaos.inventory
    command: Reserve
    payload: {fail: "${input.fail}"}
    compensation: {command: Release}
  - parallel:
      name: money
      steps:
        - name: charge
          topic: chaos.payments
          command: Charge
          payload: {fail: "${input.fail}"}
          compensation: {command: Refund}
        - name: invoice
          topic: chaos.billing
          command: Invoice
          payload: {fail: "${input.fail}"}
          compensation: {command: Void}
  - name: confirm
    topic: chaos.orders
    command: Confirm
    payload: {fail: "${input.fail}"}
    pivot: true
)";



// What the participants executed; touched on their io thread only while it runs.
struct Ledger {
  std::map<std::string, int> executed;  // idempotency key -> successful executions
  std::map<std::string, std::set<std::string>> keys;  // "saga/step/action" -> keys seen
};

// The parameter: how the orchestrator consumes ("assign", "group"), or "postgres": assign,
// with the state in a PostgreSQL database instead of a SQLite file.
class Chaos : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sagactl-chaos-" + std::to_string(::getpid()) + "-" + GetParam());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sagas");
    state_ = (dir_ / "state.db").string();
    if (GetParam() == "postgres") {
      auto server = testing_support::PostgresServer::start();
      ASSERT_TRUE(server.ok()) << server.error().message;
      postgres_ = std::move(server).value();
      auto url = postgres_->create_database("chaos");
      ASSERT_TRUE(url.ok()) << url.error().message;
      state_ = *url;
    }
    std::ofstream(dir_ / "sagas" / "chaos.yaml") << kSaga;
    broker_ = std::make_unique<BackgroundProcess>(std::vector<std::string>{
        SAGACTL_BIN, "dev-broker", "--port", "0", "--sagas", (dir_ / "sagas").string(), "--partitions", "2"});
    ASSERT_TRUE(await([&] { return !line_value(broker_->out(), "bootstrap: ").empty(); }, 30s)) << broker_->err();
    bootstrap_ = line_value(broker_->out(), "bootstrap: ");
    std::ofstream(dir_ / "sagactl.yaml")
        << "sagas: " << (dir_ / "sagas").string() << "\nstate: " << state_
        << "\nkafka:\n  brokers: " << bootstrap_ << "\n  consume: " << (GetParam() == "group" ? "group" : "assign")
        << "\n  group: chaos\n  start_topic: chaos.start\n  events_topic: ''\n  fetch_wait_ms: 5\n"
        // The mock cluster ignores static membership: a restarted member waits out the session.
        << "  properties: {session.timeout.ms: '6000', heartbeat.interval.ms: '1000'}\n"
        << "admin: 127.0.0.1:0\nlog: {level: warn}\n";
  }

  void TearDown() override {
    stop_participants();
    orchestrator_.reset();
    broker_.reset();
    fs::remove_all(dir_);
  }

  kafka::KafkaOptions kafka(const std::string& group) const {
    kafka::KafkaOptions o;
    o.brokers = bootstrap_;
    o.group_id = group;
    o.consume = kafka::KafkaOptions::Consume::assign;
    o.fetch_wait_max_ms = 5;
    o.warm_topics = {"chaos.replies"};
    return o;
  }

  void start_participants() {
    work_.emplace(boost::asio::make_work_guard(io_));
    const std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> services = {
        {"chaos.inventory", {{"Reserve", "reserve"}, {"Release", "reserve"}}},
        {"chaos.payments", {{"Charge", "charge"}, {"Refund", "charge"}}},
        {"chaos.billing", {{"Invoice", "invoice"}, {"Void", "invoice"}}},
        {"chaos.orders", {{"Confirm", "confirm"}}}};
    for (const auto& [topic, commands] : services) {
      participant::ParticipantOptions po;
      po.dedup_path = (dir_ / (topic + ".replies.db")).string();
      auto p = std::make_unique<participant::Participant>(io_, kafka(topic + ".participant"), topic, po);
      for (const auto& [command, step] : commands) {
        p->on(command, [this, step = step](const Command& c) { return handle(step, c); });
      }
      // A third of the sagas lose reserve's first reply: they wait out a timeout and retry,
      // so every kill finds sagas in flight with timers armed.
      p->copies = [](const Command& c) {
        bool lost = c.step == "reserve" && c.action == "execute" && c.attempt == 1 &&
                    std::hash<std::string>{}(c.saga_id) % 3 == 0;
        return lost ? 0 : 1;
      };
      auto err = p->start();
      ASSERT_FALSE(err) << *err;
      participants_.push_back(std::move(p));
    }
    io_thread_ = std::thread([this] { io_.run(); });
  }

  void stop_participants() {
    if (!io_thread_.joinable()) return;
    std::promise<void> done;
    boost::asio::post(io_, [&] {
      participants_.clear();
      done.set_value();
    });
    done.get_future().wait();
    work_.reset();
    io_.stop();
    io_thread_.join();
  }

  Reply handle(const std::string& step, const Command& c) {
    ledger_.keys[c.saga_id + "/" + c.step + "/" + c.action].insert(c.idempotency_key);
    if (c.action == "execute") {
      const sagas::Json* fail = c.payload.find("fail");
      if (fail && fail->is_string() && fail->as_string() == step) return Reply::failure("chaos: " + step + " fails");
    }
    ++ledger_.executed[c.idempotency_key];
    return Reply::ok(sagas::Json::object());
  }

  void start_orchestrator() {
    orchestrator_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{SAGACTL_BIN, "run", "--config", (dir_ / "sagactl.yaml").string()});
  }

  // Waits until the (re)started orchestrator answers /readyz: it owns its reply partitions
  // and has applied what waited on them. Returns how long that took.
  std::chrono::milliseconds await_ready() {
    auto began = std::chrono::steady_clock::now();
    EXPECT_TRUE(await([&] { return !line_value(orchestrator_->out(), "admin: ").empty(); }, 30s)) << orchestrator_->err();
    std::string admin = line_value(orchestrator_->out(), "admin: ");
    EXPECT_TRUE(await(
        [&] {
          auto r = server::http_request(admin, "GET", "/readyz");
          return r.ok() && r->status == 200;
        },
        120s))
        << orchestrator_->err();
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began);
  }

  void produce_starts(kafka::KafkaTransport& producer, int from, int to) {
    for (int n = from; n < to; ++n) {
      std::string id = "chaos-" + std::to_string(n);
      std::string fail = kFailAt[static_cast<std::size_t>(n) % kFailAt.size()];
      producer.publish(wire::Message{"chaos.start", id, {{"saga-name", "chaos"}, {"saga-id", id}},
                                     R"({"fail": ")" + fail + R"("})"});
    }
    producer.flush(10'000);
  }

  // Saga id -> its state and steps, read from the state file (read-only, beside the writer).
  std::map<std::string, sagas::Instance> read_sagas() {
    std::map<std::string, sagas::Instance> out;
    auto store = cli::open_store({.state = state_, .synchronous_full = true, .read_only = true, .owner = ""});
    if (!store) return out;
    for (std::size_t offset = 0;; offset += 1000) {
      auto page = (*store)->list({.limit = 1000, .offset = offset});
      if (!page || page->sagas.empty()) break;
      for (const auto& summary : page->sagas) {  // a list holds summaries; load gives the steps
        auto inst = (*store)->load(summary.id);
        if (inst && *inst) out.emplace(summary.id, std::move(**inst));
      }
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<testing_support::PostgresServer> postgres_;  // for "postgres"; outlives the processes
  std::string state_;  // the state file, or the database's URL
  std::string bootstrap_;
  std::unique_ptr<BackgroundProcess> broker_;
  std::unique_ptr<BackgroundProcess> orchestrator_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::vector<std::unique_ptr<participant::Participant>> participants_;
  Ledger ledger_;
};

TEST_P(Chaos, EverySagaEndsAsItsParticipantsDecidedThroughRandomKills) {
  start_participants();
  boost::asio::io_context producer_io;
  auto producer = kafka::KafkaTransport::create(producer_io, kafka("chaos-producer"));
  ASSERT_TRUE(producer.ok()) << producer.error();
  start_orchestrator();

  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> moment_ms(100, 1500);
  const int chunk = kSagas / (kKills + 1);
  std::vector<long> ready_ms;  // how long each (re)start took to be ready
  for (int k = 0; k <= kKills; ++k) {
    ready_ms.push_back(await_ready().count());
    produce_starts(**producer, k * chunk, k == kKills ? kSagas : (k + 1) * chunk);
    if (k == kKills) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(moment_ms(rng)));  // a random moment to kill at
    orchestrator_->signal(SIGKILL);
    ASSERT_EQ(orchestrator_->wait(), -SIGKILL) << orchestrator_->err();
    start_orchestrator();
  }

  std::map<std::string, sagas::Instance> sagas;
  bool all_ended = await(
      [&] {
        sagas = read_sagas();
        return sagas.size() == static_cast<std::size_t>(kSagas) &&
               std::all_of(sagas.begin(), sagas.end(), [](const auto& kv) { return sagas::is_terminal(kv.second.state); });
      },
      240s);
  orchestrator_->signal(SIGTERM);
  EXPECT_EQ(orchestrator_->wait(), 0) << orchestrator_->err();
  stop_participants();
  ASSERT_TRUE(all_ended) << sagas.size() << " sagas in the file; orchestrator: " << orchestrator_->err();

  int completed = 0;
  int compensated = 0;
  // The scenario is exercised: sagas lost a reply and retried (reserve is step 0).
  auto retried = std::count_if(sagas.begin(), sagas.end(), [](const auto& kv) { return kv.second.steps[0].attempts > 1; });
  EXPECT_GT(retried, 0);
  for (int n = 0; n < kSagas; ++n) {
    std::string id = "chaos-" + std::to_string(n);
    const auto& inst = sagas.at(id);
    const std::string& fail = kFailAt[static_cast<std::size_t>(n) % kFailAt.size()];
    auto compensations = [&](const std::string& step) {
      auto it = ledger_.executed.find(id + "/" + step + "/compensate");
      return it == ledger_.executed.end() ? 0 : it->second;
    };
    auto succeeded = [&](const std::string& step) {
      auto it = ledger_.executed.find(id + "/" + step + "/execute");
      return it != ledger_.executed.end() && it->second > 0;
    };
    if (fail.empty()) {
      EXPECT_EQ(inst.state, sagas::SagaState::completed) << id << ": " << inst.error;
      for (const auto& step : kSteps) EXPECT_EQ(compensations(step), 0) << id << " " << step;
      ++completed;
      continue;
    }
    EXPECT_EQ(inst.state, sagas::SagaState::compensated) << id << " (fails at " << fail << "): " << inst.error;
    EXPECT_EQ(compensations(fail), 0) << id << ": the failed step is not compensated";
    for (const auto& step : kSteps) {
      if (step == fail || step == "confirm") continue;
      if (succeeded(step)) {
        EXPECT_EQ(compensations(step), 1) << id << ": " << step << " succeeded, so it is undone";
      }
    }
    ++compensated;
  }
  for (const auto& [key, n] : ledger_.executed) EXPECT_EQ(n, 1) << key << " executed " << n << " times";
  for (const auto& [what, keys] : ledger_.keys) {
    EXPECT_EQ(keys.size(), 1u) << what;
    EXPECT_EQ(*keys.begin(), what) << "the key is <saga-id>/<step>/<action>";
  }
  std::cout << "[ chaos    ] " << GetParam() << ": " << completed << " completed, " << compensated
            << " compensated, " << retried << " retried a step, " << kKills << " kills; ready after (ms):";
  for (auto ms : ready_ms) std::cout << " " << ms;
  std::cout << "\n";
}

INSTANTIATE_TEST_SUITE_P(Consume, Chaos, ::testing::Values("assign", "group", "postgres"));

}  // namespace
