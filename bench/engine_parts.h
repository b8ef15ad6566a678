// What the engine's scenarios share (internal to saga-bench): the order saga, the echo
// participants, the driver that keeps sagas in flight and times them, the PostgreSQL
// database's reset.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <libpq-fe.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/measure.h"
#include "bench/scenarios.h"
#include "participant/core.h"
#include "kafka/transport.h"
#include "participant/kafka_participant.h"
#include "engine/node.h"

namespace bench {


// The order saga (examples/sagas) cut to three sequential steps; confirm-order is the pivot, so a
// declined confirmation compensates the two steps before it.
inline constexpr const char* kOrderSaga = R"(apiVersion: saga/v1
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

inline const std::vector<std::string> kCommandTopics = {"inventory.commands", "payments.commands", "orders.commands"};
inline const std::string kReplyTopic = "bench-order.replies";
inline const std::string kEventsTopic = "sagas.events";

// A participant's reply memory that forgets the oldest keys beyond `capacity`: what a real
// service keeps for its dedup window, without growing with the length of the run.
class RecentReplies final : public participant::DedupStore {
 public:
  explicit RecentReplies(std::size_t capacity) : capacity_(capacity) {}
  std::optional<participant::Reply> find(const std::string& key) override {
    auto it = replies_.find(key);
    return it == replies_.end() ? std::nullopt : std::optional<participant::Reply>(it->second);
  }
  void put(const std::string& key, const participant::Reply& reply) override {
    if (!replies_.insert_or_assign(key, reply).second) return;
    order_.push_back(key);
    if (order_.size() > capacity_) {
      replies_.erase(order_.front());
      order_.pop_front();
    }
  }

 private:
  std::size_t capacity_;
  std::unordered_map<std::string, participant::Reply> replies_;
  std::deque<std::string> order_;
};

inline sagas::Json field(const char* name, std::string value) {
  sagas::Json j = sagas::Json::object();
  j.set(name, sagas::Json(std::move(value)));
  return j;
}

// The echo services: every command succeeds, but confirm-order when told to fail. `target`
// is a ParticipantCore (in process) or a Participant (Kafka): both take handlers by command.
template <typename Target>
void echo_services(Target& target, bool fail_at_confirm) {
  target.on("ReserveStock", [](const participant::Command& c) { return participant::Reply::ok(field("reservationId", "r-" + c.saga_id)); });
  target.on("ChargeCard", [](const participant::Command& c) { return participant::Reply::ok(field("chargeId", "ch-" + c.saga_id)); });
  target.on("ConfirmOrder", [fail_at_confirm](const participant::Command&) {
    return fail_at_confirm ? participant::Reply::failure("order rejected") : participant::Reply::ok();
  });
  target.on("ReleaseStock", [](const participant::Command&) { return participant::Reply::ok(); });
  target.on("RefundCard", [](const participant::Command&) { return participant::Reply::ok(); });
}

// The echo services over Kafka: one participant per command topic, on `io` (a thread of
// their own, as separate services would be), consuming as `base` says.
inline std::vector<std::unique_ptr<participant::Participant>> kafka_echo_services(boost::asio::io_context& io,
                                                                           const kafka::KafkaOptions& base,
                                                                           std::size_t window, bool fail_at_confirm) {
  std::vector<std::unique_ptr<participant::Participant>> services;
  for (const auto& topic : kCommandTopics) {
    kafka::KafkaOptions ko = base;
    ko.group_id = topic + ".participant";
    ko.warm_topics = {kReplyTopic};
    participant::ParticipantOptions po;
    po.dedup = std::make_shared<RecentReplies>(window);
    auto p = std::make_unique<participant::Participant>(io, ko, topic, po);
    echo_services(*p, fail_at_confirm);
    if (auto err = p->start()) throw std::runtime_error(*err);
    services.push_back(std::move(p));
  }
  return services;
}

// Starts sagas to keep `concurrency` in flight and times them from the engine's events. All
// of it runs on the engine's executor (a cluster node's: one driver per node).
class Driver {
 public:
  Driver(boost::asio::io_context& io, engine::Node& engine, const Settings& s) : io_(io), engine_(engine), s_(s) {
    input_ = *sagas::Json::parse(R"({"orderId":"o-0","amount":42.5,"items":[{"sku":"sku-1","qty":1}]})");
    engine_.on_event([this](const engine::Event& e) { on_event(e); });
  }

  void begin() { top_up(); }
  bool done() const { return finished_ == total(); }

  Histogram saga_latency, step_latency;
  std::function<void()> on_measure;  // called as the measured part begins
  std::function<void()> on_finished; // called as the last measured saga ends, before on_done
  std::function<void()> on_done;     // called on the executor once every saga has finished
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
      auto r = engine_.start("bench-order", std::move(input), {}, {});
      if (!r) throw std::runtime_error(r.error().message);
      sagas_.emplace(r->id.value(), Running{Clock::now(), measuring_, {}});
      ++started_;
    }
  }

  void on_event(const engine::Event& e) {
    auto now = Clock::now();
    const std::string& id = e.saga_id.value();
    auto saga = sagas_.find(id);
    if (saga == sagas_.end()) return;
    bool measured = saga->second.measured;
    using sagas::EventType;
    const EventType t = e.type;
    auto& steps = saga->second.steps;
    if (t == EventType::step_started || t == EventType::compensation_step_started) {
      steps.emplace_back(e.step, now);
    } else if (t == EventType::step_succeeded || t == EventType::step_failed || t == EventType::step_attempt_failed ||
               t == EventType::step_compensated || t == EventType::step_compensation_failed ||
               t == EventType::compensation_attempt_failed) {
      auto it = std::find_if(steps.begin(), steps.end(), [&](const auto& s) { return s.first == e.step; });
      if (it == steps.end()) return;
      if (measured) step_latency.add(micros(now - it->second));
      steps.erase(it);
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
    if (on_finished) on_finished();
    boost::asio::post(io_, [this] {
      if (on_done) on_done();
    });
  }

  static double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

  // The driver's own bookkeeping is counted with the event loop's allocations: it keeps a
  // saga's steps in flight beside it (names fit std::string's inline buffer), not in a map
  // keyed by a new string per step.
  struct Running {
    Clock::time_point began;
    bool measured = false;
    std::vector<std::pair<std::string, Clock::time_point>> steps;  // started, not yet ended
  };
  boost::asio::io_context& io_;
  engine::Node& engine_;
  const Settings& s_;
  sagas::Json input_;
  int started_ = 0, finished_ = 0;
  bool measuring_ = false;
  Clock::time_point began_;
  double cpu_began_ = 0, engine_cpu_began_ = 0;
  std::uint64_t commits_began_ = 0, transitions_began_ = 0;
  std::unordered_map<std::string, Running> sagas_;
};

// Drops what an earlier run left in the benchmark's database: each scenario starts empty.
inline void empty_postgres(const std::string& url) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error("--postgres: " + std::string(PQerrorMessage(c.get())));
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexec(c.get(), "SET client_min_messages = warning; DROP TABLE IF EXISTS sagactl_schema, sagas, saga_counts, journal, journal_state, pruned, "
                      "sagactl_cluster CASCADE; DROP FUNCTION IF EXISTS sagactl_count, sagactl_advance CASCADE; "
                      "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'sagactl_shard_%' "
                      "LOOP EXECUTE 'DROP SCHEMA ' || s || ' CASCADE'; END LOOP; END $$"),
      &PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    throw std::runtime_error("--postgres: cannot empty the database: " + std::string(PQerrorMessage(c.get())));
  }
}

// The bytes the benchmark's database takes on disk (tables, indexes, TOAST).
inline std::uintmax_t postgres_bytes(const std::string& url) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> c(PQconnectdb(url.c_str()), &PQfinish);
  std::unique_ptr<PGresult, decltype(&PQclear)> r(
      PQexec(c.get(), "SELECT sum(pg_total_relation_size(oid)) FROM pg_class WHERE relname IN "
                      "('sagas', 'journal', 'journal_state', 'saga_counts', 'pruned')"),
      &PQclear);
  if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) return 0;
  return std::strtoull(PQgetvalue(r.get(), 0, 0), nullptr, 10);
}

template <typename T>
inline T must(sagas::Result<T, std::string> r) {
  if (!r) throw std::runtime_error(r.error());
  return std::move(r).value();
}

}  // namespace bench
