// The engine's scenarios: the order saga (three sequential steps) driven at a fixed number of
// sagas in flight, with echo participants built on the participant SDK, over Kafka (the
// embedded broker) or the in-process bus, on a durable SQLite file (synchronous=FULL).
//
// Latencies come from the engine's own lifecycle events, which fire after the commit:
// a saga's from start() to its terminal event, a step's from "step-started" (its command
// committed and handed to the transport) to the event of its reply's commit. So a step's
// latency is one round trip plus one durable checkpoint: the ceiling's unit of work.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <deque>
#include <filesystem>
#include <libpq-fe.h>
#include <functional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "bench/measure.h"
#include "bench/scenarios.h"
#include "dsl/compiler.h"
#include "engine/engine.h"
#include "engine/in_process.h"
#include "state/open_store.h"
#include "engine/participant.h"
#include "runtime/dev_broker.h"
#include "runtime/kafka.h"
#include "runtime/kafka_participant.h"
#include "state/sqlite_store.h"

namespace bench {

namespace {

// The order saga (examples/sagas) cut to three sequential steps; confirm-order is the pivot, so a
// declined confirmation compensates the two steps before it.
constexpr const char* kOrderSaga = R"(apiVersion: saga/v1
saga: bench-order
description: Reserve stock, charge the card, confirm the order.
input:
  type: object
  required: [orderId, amount]
  properties:
    orderId: {type: string, minLength: 1}
    amount: {type: number, minimum: 0}
    items: {type: array, items: {type: object, required: [sku, qty]}}
defaults:
  timeout: 30s
  retry: {max_attempts: 3, backoff: exponential, initial: 200ms, max: 5s, jitter: true}
compensation:
  strategy: sequential
steps:
  - name: reserve-stock
    topic: inventory.commands
    command: ReserveStock
    payload: {orderId: "${input.orderId}", items: "${input.items}"}
    compensation:
      command: ReleaseStock
      payload: {reservationId: "${steps.reserve-stock.reply.reservationId}"}
  - name: charge-card
    topic: payments.commands
    command: ChargeCard
    payload: {orderId: "${input.orderId}", amount: "${input.amount}"}
    compensation:
      command: RefundCard
      payload: {chargeId: "${steps.charge-card.reply.chargeId}"}
  - name: confirm-order
    topic: orders.commands
    command: ConfirmOrder
    payload: {orderId: "${input.orderId}", note: "order ${input.orderId} charged ${steps.charge-card.reply.chargeId}"}
    pivot: true
)";

const std::vector<std::string> kCommandTopics = {"inventory.commands", "payments.commands", "orders.commands"};
const std::string kReplyTopic = "bench-order.replies";
const std::string kEventsTopic = "sagas.events";

// A participant's reply memory that forgets the oldest keys beyond `capacity`: what a real
// service keeps for its dedup window, without growing with the length of the run.
class RecentReplies final : public saga::DedupStore {
 public:
  explicit RecentReplies(std::size_t capacity) : capacity_(capacity) {}
  std::optional<saga::Reply> find(const std::string& key) override {
    auto it = replies_.find(key);
    return it == replies_.end() ? std::nullopt : std::optional<saga::Reply>(it->second);
  }
  void put(const std::string& key, const saga::Reply& reply) override {
    if (!replies_.insert_or_assign(key, reply).second) return;
    order_.push_back(key);
    if (order_.size() > capacity_) {
      replies_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  std::size_t capacity_;
  std::unordered_map<std::string, saga::Reply> replies_;
  std::deque<std::string> order_;
};

sagas::Json field(const char* name, std::string value) {
  sagas::Json j = sagas::Json::object();
  j.set(name, sagas::Json(std::move(value)));
  return j;
}

// The echo services: every command succeeds, but confirm-order when told to fail. `target`
// is a ParticipantCore (in process) or a Participant (Kafka): both take handlers by command.
template <typename Target>
void echo_services(Target& target, bool fail_at_confirm) {
  target.on("ReserveStock", [](const saga::Command& c) { return saga::Reply::ok(field("reservationId", "r-" + c.saga_id)); });
  target.on("ChargeCard", [](const saga::Command& c) { return saga::Reply::ok(field("chargeId", "ch-" + c.saga_id)); });
  target.on("ConfirmOrder", [fail_at_confirm](const saga::Command&) {
    return fail_at_confirm ? saga::Reply::failure("order rejected") : saga::Reply::ok();
  });
  target.on("ReleaseStock", [](const saga::Command&) { return saga::Reply::ok(); });
  target.on("RefundCard", [](const saga::Command&) { return saga::Reply::ok(); });
}

// Starts sagas to keep `concurrency` in flight and times them from the engine's events. All
// of it runs on the engine's executor.
class Driver {
 public:
  Driver(boost::asio::io_context& io, saga::Engine& engine, const Settings& s) : io_(io), engine_(engine), s_(s) {
    input_ = *sagas::Json::parse(R"({"orderId":"o-0","amount":42.5,"items":[{"sku":"sku-1","qty":1}]})");
    engine_.on_event([this](const saga::Event& e) { on_event(e); });
  }

  void begin() { top_up(); }
  bool done() const { return finished_ == total(); }

  Histogram saga_latency, step_latency;
  std::function<void()> on_measure;  // called as the measured part begins
  double seconds = 0, cpu = 0, engine_cpu = 0;
  std::uint64_t commits = 0, transitions = 0;

 private:
  int total() const { return s_.warmup + s_.sagas; }

  void top_up() {
    // The warm-up drains before the measured sagas start, so they start on a steady engine.
    int limit = finished_ < s_.warmup ? s_.warmup : total();
    if (started_ == s_.warmup && finished_ == s_.warmup && !measuring_) {
      measuring_ = true;
      began_ = Clock::now();
      cpu_began_ = process_cpu_seconds();
      engine_cpu_began_ = thread_cpu_seconds();
      commits_began_ = engine_.stats().commits;
      transitions_began_ = engine_.stats().transitions;
      if (on_measure) on_measure();
    }
    while (started_ - finished_ < s_.concurrency && started_ < limit) {
      sagas::Json input = input_;
      input.set("orderId", sagas::Json("o-" + std::to_string(started_)));
      auto r = engine_.start("bench-order", std::move(input));
      if (!r) throw std::runtime_error(r.error().message);
      sagas_[r->id.value()] = {Clock::now(), measuring_};
      ++started_;
    }
  }

  void on_event(const saga::Event& e) {
    auto now = Clock::now();
    const std::string& id = e.saga_id.value();
    auto saga = sagas_.find(id);
    if (saga == sagas_.end()) return;
    bool measured = saga->second.measured;
    using sagas::EventType;
    const EventType t = e.type;
    if (t == EventType::step_started || t == EventType::compensation_step_started) {
      steps_[id + '/' + e.step] = now;
    } else if (t == EventType::step_succeeded || t == EventType::step_failed || t == EventType::step_attempt_failed ||
               t == EventType::step_compensated || t == EventType::step_compensation_failed ||
               t == EventType::compensation_attempt_failed) {
      auto it = steps_.find(id + '/' + e.step);
      if (it == steps_.end()) return;
      if (measured) step_latency.add(micros(now - it->second));
      steps_.erase(it);
    } else if (sagas::is_terminal_event(t)) {
      if (measured) saga_latency.add(micros(now - saga->second.began));
      sagas_.erase(saga);
      if (++finished_ == total()) return finish();
      boost::asio::post(io_, [this] { top_up(); });
    }
  }

  void finish() {
    seconds = seconds_since(began_);
    cpu = process_cpu_seconds() - cpu_began_;
    engine_cpu = thread_cpu_seconds() - engine_cpu_began_;
    commits = engine_.stats().commits - commits_began_;
    transitions = engine_.stats().transitions - transitions_began_;
    boost::asio::post(io_, [this] {
      engine_.close();
      io_.stop();
    });
  }

  static double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

  struct Running {
    Clock::time_point began;
    bool measured = false;
  };
  boost::asio::io_context& io_;
  saga::Engine& engine_;
  const Settings& s_;
  sagas::Json input_;
  int started_ = 0, finished_ = 0;
  bool measuring_ = false;
  Clock::time_point began_;
  double cpu_began_ = 0, engine_cpu_began_ = 0;
  std::uint64_t commits_began_ = 0, transitions_began_ = 0;
  std::unordered_map<std::string, Running> sagas_;
  std::unordered_map<std::string, Clock::time_point> steps_;
};

// Drops what an earlier run left in the benchmark's database: each scenario starts empty.
void empty_postgres(const std::string& url) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error("--postgres: " + std::string(PQerrorMessage(c.get())));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexec(c.get(), "SET client_min_messages = warning; DROP TABLE IF EXISTS sagactl_schema, sagas, saga_counts, journal, journal_state, pruned CASCADE; "
                      "DROP FUNCTION IF EXISTS sagactl_count CASCADE"),
      &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw std::runtime_error("--postgres: cannot empty the database: " + std::string(PQerrorMessage(c.get())));
  }
}

// The bytes the benchmark's database takes on disk (tables, indexes, TOAST).
std::uintmax_t postgres_bytes(const std::string& url) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), &PQfinish);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexec(c.get(), "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relname IN "
                      "('sagas', 'journal', 'journal_state', 'saga_counts', 'pruned')"),
      &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) return 0;
  return std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
}

template <typename T>
T must(sagas::Result<T, std::string> r) {
  if (!r) throw std::runtime_error(r.error());
  return std::move(r).value();
}

}  // namespace

sagas::Json run_engine(const Settings& s, Wire wire, bool fail_at_confirm) {
  auto compiled = dsl::compile(kOrderSaga, "bench-order.yaml");
  if (!compiled.ok()) throw std::runtime_error(dsl::format(compiled.diagnostics.front()));
  // Replies are remembered for a window several times what is in flight.
  const std::size_t window = static_cast<std::size_t>(s.concurrency) * 16 + 1024;

  boost::asio::io_context io;
  if (!s.postgres.empty()) empty_postgres(s.postgres);
  auto store = state::open_store({.state = s.postgres.empty() ? s.dir + "/state.db" : s.postgres,
                                  .synchronous_full = true, .read_only = false, .owner = "saga-bench"});
  if (!store) throw std::runtime_error(store.error().message);
  saga::SystemClock clock(io);

  // Declared in the order they depend on each other: destroyed in reverse.
  std::unique_ptr<saga::DevBroker> broker;
  std::unique_ptr<saga::Bus> bus;
  std::unique_ptr<saga::Transport> transport;
  saga::KafkaOptions kafka;
  if (wire == Wire::kafka) {
    broker = must(saga::DevBroker::start(1));
    std::vector<std::string> topics = kCommandTopics;
    topics.insert(topics.end(), {kReplyTopic, kReplyTopic + ".dlq", kEventsTopic});
    for (const auto& t : topics) {
      if (auto err = broker->create_topic(t, s.partitions)) throw std::runtime_error(*err);
    }
    // As `sagactl run` sets it up with `brokers: embedded`.
    kafka.brokers = broker->bootstrap();
    kafka.consume = saga::KafkaOptions::Consume::assign;
    kafka.fetch_wait_max_ms = s.fetch_wait_ms;
    kafka.warm_topics = topics;
    transport = must(saga::KafkaTransport::create(io, kafka));
  } else {
    bus = std::make_unique<saga::Bus>();
    transport = std::make_unique<saga::InProcessTransport>(io, *bus);
  }

  // Time in the store's commit (SQLite work and fsync, on the engine's writer thread).
  Histogram commit_latency;
  double commit_seconds = 0;
  saga::EngineOptions options;
  if (s.events) options.events_topic = kEventsTopic;
  options.on_commit = [&](double seconds, std::size_t) {
    commit_latency.add(seconds * 1e6);
    commit_seconds += seconds;
  };
  saga::Engine engine(io, **store, *transport, clock, options);
  engine.add(compiled.definition);

  // Participants: over Kafka, three services on their own thread, as separate services would
  // be; in process, on the engine's executor (the bus is single-threaded).
  boost::asio::io_context services_io;
  auto services_work = boost::asio::make_work_guard(services_io);
  std::vector<std::unique_ptr<saga::Participant>> services;
  std::unique_ptr<saga::InProcessParticipant> in_process;
  if (wire == Wire::kafka) {
    for (const auto& topic : kCommandTopics) {
      saga::KafkaOptions ko = kafka;
      ko.group_id = topic + ".participant";
      ko.warm_topics = {kReplyTopic};
      saga::ParticipantOptions po;
      po.dedup = std::make_shared<RecentReplies>(window);
      auto p = std::make_unique<saga::Participant>(services_io, ko, topic, po);
      echo_services(*p, fail_at_confirm);
      if (auto err = p->start()) throw std::runtime_error(*err);
      services.push_back(std::move(p));
    }
  } else {
    auto core = std::make_shared<saga::ParticipantCore>(std::make_shared<RecentReplies>(window));
    echo_services(*core, fail_at_confirm);
    in_process = std::make_unique<saga::InProcessParticipant>(io, *bus, kCommandTopics, core);
  }
  std::thread services_thread([&] { services_io.run(); });

  if (auto st = engine.open(); !st.ok()) throw std::runtime_error(st.message);
  Driver driver(io, engine, s);
  double commit_seconds_measured = 0;
  driver.on_measure = [&] {
    commit_latency = Histogram();
    commit_seconds_measured = commit_seconds;
  };
  boost::asio::post(io, [&] { driver.begin(); });
  io.run();

  services_work.reset();
  services_io.stop();
  services_thread.join();
  if (!driver.done()) throw std::runtime_error("the engine stopped before every saga finished");

  auto n = static_cast<double>(s.sagas);
  auto steps = static_cast<double>(driver.step_latency.count());
  sagas::Json j = sagas::Json::object();
  j.set("sagas", sagas::Json(s.sagas));
  j.set("concurrency", sagas::Json(s.concurrency));
  j.set("steps", sagas::Json(static_cast<std::int64_t>(driver.step_latency.count())));
  j.set("seconds", sagas::Json(driver.seconds));
  j.set("sagas_per_s", sagas::Json(n / driver.seconds));
  j.set("steps_per_s", sagas::Json(steps / driver.seconds));
  j.set("saga_latency", driver.saga_latency.to_json());
  j.set("step_latency", driver.step_latency.to_json());
  j.set("cpu_s_per_1000_sagas", sagas::Json(driver.cpu / n * 1000));
  j.set("engine_thread_cpu_s_per_1000_sagas", sagas::Json(driver.engine_cpu / n * 1000));
  j.set("transitions_per_commit",
        sagas::Json(driver.commits == 0 ? 0.0
                                        : static_cast<double>(driver.transitions) / static_cast<double>(driver.commits)));
  j.set("commit_latency", commit_latency.to_json());
  // The share of the measured time the writer thread spent committing (the loop runs meanwhile).
  j.set("commit_share", sagas::Json((commit_seconds - commit_seconds_measured) / driver.seconds));
  j.set("active_sagas_at_end", sagas::Json(static_cast<std::int64_t>(engine.active_sagas())));
  std::error_code ec;
  auto db_bytes = s.postgres.empty() ? std::filesystem::file_size(s.dir + "/state.db", ec) : postgres_bytes(s.postgres);
  j.set("state_file_mib", sagas::Json(ec ? 0.0 : static_cast<double>(db_bytes) / (1024.0 * 1024.0)));
  // Every saga the file holds finished (the warm-up's too): bytes of state file per finished saga.
  j.set("state_bytes_per_saga", sagas::Json(ec ? 0.0 : static_cast<double>(db_bytes) / (s.sagas + s.warmup)));
  j.set("peak_rss_mib", sagas::Json(peak_rss_mib()));
  j.set("rss_end_mib", sagas::Json(current_rss_mib()));
  return j;
}

}  // namespace bench
