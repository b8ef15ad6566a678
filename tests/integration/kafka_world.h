// A world for tests over the real Kafka protocol: one development broker (librdkafka's
// mock cluster on loopback) shared by the whole test binary, and per test an orchestrator
// (engine + SQLite file + KafkaTransport) and participant services (participant::Participant with
// their own SQLite reply logs), all on one io_context. Every test gets its own topics, so
// tests do not see each other's messages.
//
// Saga timers run on a manual clock (a test moves time when it wants a timeout); waiting for
// Kafka round trips is waiting for a condition with a generous real-time limit.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "engine/engine.h"
#include "tests/support/manual_clock.h"
#include "wire/protocol.h"
#include "kafka/dev_broker.h"
#include "kafka/transport.h"
#include "participant/kafka_participant.h"
#include "state/sqlite_store.h"

namespace kafka_test {

namespace fs = std::filesystem;
using namespace engine;
using sagas::Json;

// The broker every test of the binary shares (starting one per test costs seconds).
class SharedBroker : public ::testing::Environment {
 public:
  static kafka::DevBroker& get() { return *broker_; }
  void SetUp() override {
    const char* log = std::getenv("SAGACTL_TEST_LOG");
    spdlog::set_level(log == nullptr ? spdlog::level::off : spdlog::level::from_str(log));
    auto b = kafka::DevBroker::start(1);
    ASSERT_TRUE(b.ok()) << b.error();
    broker_ = std::move(b).value();
  }
  void TearDown() override { broker_.reset(); }

 private:
  static inline std::unique_ptr<kafka::DevBroker> broker_;
};

inline std::string unique_prefix() {
  static int n = 0;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string p = std::string(info->name()) + "-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
  for (char& c : p) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
  }
  return p;
}

// A saga in the order's shape (reserve; pay and invoice in parallel; confirm) whose topics
// all start with `prefix`.
inline std::string order_yaml(const std::string& prefix, const std::string& strategy = "sequential") {
  return R"(apiVersion: saga/v1
saga: shop
version: 1
defaults:
  timeout: 2s
  retry: {max_attempts: 3, backoff: fixed, initial: 100ms, jitter: false}
  reply_topic: )" + prefix + R"(.replies
compensation:
  strategy: )" + strategy + R"(
  retry: {max_attempts: 5, backoff: fixed, initial: 100ms, jitter: false}
steps:
  - name: reserve
    topic: )" + prefix + R"(.inventory
    command: Reserve
    payload: {order: "${input.order}"}
    compensation: {command: Release, payload: {order: "${input.order}"}}
  - parallel:
      name: money
      steps:
        - name: pay
          topic: )" + prefix + R"(.payments
          command: Pay
          payload: {order: "${input.order}"}
          compensation: {command: Refund, payload: {order: "${input.order}"}}
        - name: invoice
          topic: )" + prefix + R"(.billing
          command: Invoice
          payload: {order: "${input.order}"}
          compensation: {command: Void, payload: {order: "${input.order}"}}
  - name: confirm
    topic: )" + prefix + R"(.orders
    command: Confirm
    payload: {order: "${input.order}"}
    compensation: {command: Unconfirm, payload: {order: "${input.order}"}}
)";
}

class KafkaWorld {
 public:
  explicit KafkaWorld(const std::string& strategy = "sequential") : prefix_(unique_prefix()) {
    dir_ = fs::temp_directory_path() / ("sagactl-kafka-" + prefix_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto r = dsl::compile(order_yaml(prefix_, strategy), "shop.yaml");
    for (const auto& d : r.diagnostics) ADD_FAILURE() << dsl::format(d);
    def = r.definition;
    for (const char* t : {"inventory", "payments", "billing", "orders", "replies", "replies.dlq", "events", "start",
                          "start.dlq"}) {
      auto err = SharedBroker::get().create_topic(topic(t), 2);
      EXPECT_FALSE(err) << *err;
    }
  }

  ~KafkaWorld() {
    stop_orchestrator();
    participants_.clear();
    work_.reset();
    io.reset();
    fs::remove_all(dir_);
  }

  std::string topic(const std::string& suffix) const { return prefix_ + "." + suffix; }
  const std::string& prefix() const { return prefix_; }
  fs::path dir() const { return dir_; }
  // The saga as a file, for an orchestrator in another process.
  std::string saga_file(const std::string& strategy = "sequential") const {
    auto path = dir_ / "shop.yaml";
    std::ofstream(path) << order_yaml(prefix_, strategy);
    return path.string();
  }

  kafka::KafkaOptions kafka_options(const std::string& group) const {
    kafka::KafkaOptions o;
    o.brokers = SharedBroker::get().bootstrap();
    o.group_id = group;
    o.consume = kafka::KafkaOptions::Consume::assign;
    o.fetch_wait_max_ms = 5;
    o.properties = {{"topic.metadata.refresh.interval.ms", "1000"}, {"reconnect.backoff.max.ms", "500"}};
    if (const char* dbg = std::getenv("SAGACTL_KAFKA_DEBUG")) o.properties["debug"] = dbg;
    return o;
  }

  // --- participants: one service per command topic ---
  std::function<participant::Reply(const participant::Command&)> behaviour = [](const participant::Command&) { return participant::Reply::ok(); };
  std::function<int(const participant::Command&)> copies = [](const participant::Command&) { return 1; };
  std::vector<participant::Command> handled;  // with handler_timeout, written from handler threads (handled_mu)
  std::mutex handled_mu;
  std::chrono::milliseconds handler_timeout{0};

  void stop_participants() { participants_.clear(); }

  void start_participants() {
    for (const char* service : {"inventory", "payments", "billing", "orders"}) {
      participant::ParticipantOptions po;
      po.dedup_path = (dir_ / (std::string(service) + ".replies.db")).string();
      po.count_calls = true;
      po.handler_timeout = handler_timeout;
      po.clock = [this] { return clock ? clock->now() : 0; };  // expires-at is the orchestrator's clock's
      kafka::KafkaOptions ko = kafka_options(topic(service) + ".participant");
      ko.warm_topics = {topic("replies")};
      auto p = std::make_unique<participant::Participant>(*io, ko, topic(service), po);
      for (const char* cmd : {"Reserve", "Release", "Pay", "Refund", "Invoice", "Void", "Confirm", "Unconfirm"}) {
        p->on(cmd, [this](const participant::Command& c) {
          {
            std::lock_guard lock(handled_mu);
            handled.push_back(c);
          }
          return behaviour(c);
        });
      }
      p->copies = [this](const participant::Command& c) { return copies(c); };
      auto err = p->start();
      ASSERT_FALSE(err) << *err;
      participants_.push_back(std::move(p));
    }
  }

  int calls(const std::string& key) const {
    int n = 0;
    for (const auto& p : participants_) {
      auto calls = p->calls();
      if (auto it = calls.find(key); it != calls.end()) n += it->second;
    }
    return n;
  }
  std::size_t overdue() const {
    std::size_t n = 0;
    for (const auto& p : participants_) n += p->overdue();
    return n;
  }
  std::map<std::string, int> all_calls() const {
    std::map<std::string, int> out;
    for (const auto& p : participants_) {
      for (const auto& [k, n] : p->calls()) out[k] += n;
    }
    return out;
  }

  // --- the orchestrator ---
  kafka::KafkaOptions::Consume orchestrator_consume = kafka::KafkaOptions::Consume::assign;

  void start_orchestrator() {
    auto s = state::SqliteStore::open({(dir_ / "state.db").string(), true, false});
    ASSERT_TRUE(s.ok()) << s.error().message;
    store = std::move(s).value();
    kafka::KafkaOptions ko = kafka_options("sagactl-" + prefix_);
    ko.warm_topics = {topic("inventory"), topic("payments"), topic("billing"), topic("orders"), topic("events"),
                      topic("replies.dlq")};
    ko.consume = orchestrator_consume;
    ko.owner = "test-host:" + (dir_ / "state.db").string();
    auto t = kafka::KafkaTransport::create(*io, ko);
    ASSERT_TRUE(t.ok()) << t.error();
    transport = std::move(t).value();
    clock = std::make_unique<testing_support::ManualClock>(*io);
    EngineOptions eo;
    eo.events_topic = topic("events");
    eo.start_topic = topic("start");
    engine = std::make_unique<Engine>(*io, *store, *transport, *clock, eo);
    engine->add(def);
    Status st = engine->open();
    ASSERT_TRUE(st.ok()) << st.message;
  }

  void stop_orchestrator() {
    if (engine) engine->close();
    engine.reset();
    transport.reset();
    store.reset();
  }

  // Runs the loop until `done` holds; false after `limit` of real time.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      if (io->stopped()) io->restart();  // it stops whenever it runs out of work
      io->run_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::optional<SagaState> state_of(const SagaId& id) {
    auto s = engine->status(id);
    return s ? std::optional<SagaState>(s->state) : std::nullopt;
  }

  // Waits for a terminal state with the manual clock still: no timer fires, so a test whose
  // saga needs no timeout never sees one however slow the machine is (a retry there would
  // be a bug, not load).
  SagaState finish(const SagaId& id) {
    run_until([&] { return terminal(id); }, kFinishLimit);
    return final_state(id);
  }

  // Waits for a terminal state, moving the manual clock to the next timer whenever nothing
  // arrives for a moment: for tests whose saga needs a timeout or a backoff to end. On a
  // loaded machine a reply may be slower than that moment, so such a test must not assert
  // that no other step timed out.
  SagaState finish_firing_timers(const SagaId& id) {
    for (int i = 0; i < kMaxClockMoves && !terminal(id); ++i) {
      if (run_until([&] { return terminal(id); }, kQuietBeforeATimer)) break;
      if (auto next = clock->next_wake()) clock->set(*next);
    }
    return final_state(id);
  }

  SagaId start(const std::string& order, std::optional<std::string> id = {}) {
    auto r = engine->start("shop", *Json::parse(R"({"order": ")" + order + R"("})"), StartOptions{std::move(id)});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? r->id : SagaId();
  }

  bool terminal(const SagaId& id) {
    auto s = state_of(id);
    return s && sagas::is_terminal(*s);
  }

  SagaState final_state(const SagaId& id) {
    auto s = state_of(id);
    EXPECT_TRUE(s && sagas::is_terminal(*s)) << "saga " << id.value() << " did not finish";
    return s.value_or(SagaState::running);
  }

  // Reads a topic from the beginning (a fresh consumer), until `count` messages or the limit.
  std::vector<wire::Message> read_topic(const std::string& name, std::size_t count) {
    kafka::KafkaOptions ko = kafka_options("reader-" + prefix_ + "-" + name + "-" + std::to_string(++readers_));
    auto t = kafka::KafkaTransport::create(*io, ko);
    EXPECT_TRUE(t.ok());
    std::vector<wire::Message> out;
    (*t)->set_handlers(
        [&](std::vector<wire::Received> batch) {
          for (auto& r : batch) out.push_back(std::move(r.message));
        },
        [](std::vector<wire::Delivery>) {});
    EXPECT_FALSE((*t)->subscribe({name}));
    run_until([&] { return out.size() >= count; }, std::chrono::seconds(15));
    (*t)->close();
    return out;
  }

  // Produces a raw message, as a (possibly broken) participant would.
  void produce(const wire::Message& m) {
    if (!raw_producer_) {
      auto t = kafka::KafkaTransport::create(*io, kafka_options("raw-" + prefix_));
      ASSERT_TRUE(t.ok());
      raw_producer_ = std::move(t).value();
    }
    raw_producer_->publish(m);
    raw_producer_->flush(5000);
  }

  sagas::DefinitionPtr def;
  std::unique_ptr<boost::asio::io_context> io = std::make_unique<boost::asio::io_context>();
  // Keeps run_for() waiting for work (messages arrive from other threads) instead of spinning.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(*io);
  std::unique_ptr<state::SqliteStore> store;
  std::unique_ptr<kafka::KafkaTransport> transport;
  std::unique_ptr<testing_support::ManualClock> clock;
  std::unique_ptr<Engine> engine;

 private:
  static constexpr std::chrono::milliseconds kFinishLimit{60'000};
  static constexpr std::chrono::milliseconds kQuietBeforeATimer{300};
  static constexpr int kMaxClockMoves = 200;

  std::string prefix_;
  fs::path dir_;
  std::vector<std::unique_ptr<participant::Participant>> participants_;
  std::unique_ptr<kafka::KafkaTransport> raw_producer_;
  int readers_ = 0;
};

}  // namespace kafka_test
