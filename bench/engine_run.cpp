// The engine's scenarios: the order saga (three sequential steps) driven at a fixed number of
// sagas in flight, with echo participants (raw, or built on the participant SDK), over Kafka
// (the embedded broker) or the in-process bus, on a durable SQLite file (synchronous=FULL).
//
// What the orchestrator costs is measured on its two threads, the event loop (this one) and
// the store's writer (found by its name): CPU time and heap allocations per step.
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

#include "bench/echo_participant.h"
#include "bench/engine_parts.h"
#include "bench/measure.h"
#include "bench/scenarios.h"
#include "dsl/compiler.h"
#include "engine/commit_writer.h"
#include "engine/engine.h"
#include "wire/in_process.h"
#include "cli/open_store.h"
#include "participant/core.h"
#include "kafka/dev_broker.h"
#include "kafka/transport.h"
#include "participant/kafka_participant.h"
#include "state/sqlite_store.h"

namespace bench {

namespace {

// The wire the engine speaks: Kafka through an embedded broker (as `sagactl run` sets it up
// with `brokers: embedded`), or the in-process bus. Members in the order they depend on each
// other: destroyed in reverse.
struct Wiring {
  std::unique_ptr<kafka::DevBroker> broker;
  std::unique_ptr<wire::Bus> bus;
  std::unique_ptr<wire::Transport> transport;
  kafka::KafkaOptions kafka;
};

Wiring connect(boost::asio::io_context& io, const Settings& s, Wire wire) {
  Wiring w;
  if (wire == Wire::in_process) {
    w.bus = std::make_unique<wire::Bus>();
    w.transport = std::make_unique<wire::InProcessTransport>(io, *w.bus);
    return w;
  }
  w.broker = must(kafka::DevBroker::start(1));
  std::vector<std::string> topics = kCommandTopics;
  topics.insert(topics.end(), {kReplyTopic, kReplyTopic + ".dlq", kEventsTopic});
  for (const auto& t : topics) {
    if (auto err = w.broker->create_topic(t, s.partitions)) throw std::runtime_error(*err);
  }
  w.kafka.brokers = w.broker->bootstrap();
  w.kafka.consume = kafka::KafkaOptions::Consume::assign;
  w.kafka.fetch_wait_max_ms = s.fetch_wait_ms;
  w.kafka.warm_topics = topics;
  w.transport = must(kafka::KafkaTransport::create(io, w.kafka));
  return w;
}

// The participants: over Kafka, one raw echo client for every command topic (or three SDK
// services) on threads of their own, as separate services would be; in process, on the
// engine's executor (the bus is single-threaded).
class Services {
 public:
  Services(boost::asio::io_context& engine_io, Wiring& w, const Settings& s, Wire wire, Participants participants,
           bool fail_at_confirm) {
    // Replies are remembered for a window several times what is in flight.
    const std::size_t window = static_cast<std::size_t>(s.concurrency) * 16 + 1024;
    if (wire == Wire::kafka && participants == Participants::echo) {
      echo_ = std::make_unique<EchoParticipant>(w.kafka.brokers, s, kCommandTopics, fail_at_confirm);
    } else if (wire == Wire::kafka) {
      services_ = kafka_echo_services(io_, w.kafka, window, fail_at_confirm);
    } else {
      auto core = std::make_shared<participant::ParticipantCore>(std::make_shared<RecentReplies>(window));
      echo_services(*core, fail_at_confirm);
      in_process_ = std::make_unique<participant::InProcessParticipant>(engine_io, *w.bus, kCommandTopics, core);
    }
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Services() { stop(); }
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  void stop() {
    if (!thread_.joinable()) return;
    work_.reset();
    io_.stop();
    thread_.join();
    echo_.reset();
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ = boost::asio::make_work_guard(io_);
  std::vector<std::unique_ptr<participant::Participant>> services_;
  std::unique_ptr<participant::InProcessParticipant> in_process_;
  std::unique_ptr<EchoParticipant> echo_;
  std::thread thread_;
};

// Where the orchestrator's time went: its two threads, metered over the measured sagas, and
// the store's commits.
struct Meters {
  pid_t loop_thread = 0;
  pid_t writer_thread = 0;
  ThreadMeter orchestrator;
  Histogram commit_latency;
  double commit_seconds = 0;           // all of the run
  double commit_seconds_measured = 0;  // when the measured sagas began
};

// The orchestrator's own CPU and allocations per step (event loop + writer), and the whole process's.
void add_orchestrator_figures(sagas::Json& j, const Driver& driver, const Meters& m, double n, double steps) {
  j.set("engine_thread_cpu_s_per_1000_sagas", sagas::Json(driver.engine_cpu / n * 1000));
  const double loop_cpu = m.orchestrator.cpu_seconds(m.loop_thread), writer_cpu = m.orchestrator.cpu_seconds(m.writer_thread);
  j.set("writer_thread_cpu_s_per_1000_sagas", sagas::Json(writer_cpu / n * 1000));
  j.set("orchestrator_cpu_us_per_step", sagas::Json((loop_cpu + writer_cpu) / steps * 1e6));
  j.set("loop_cpu_us_per_step", sagas::Json(loop_cpu / steps * 1e6));
  j.set("writer_cpu_us_per_step", sagas::Json(writer_cpu / steps * 1e6));
  j.set("process_cpu_us_per_step", sagas::Json(driver.cpu / steps * 1e6));
  auto loop_allocs = m.orchestrator.allocations(m.loop_thread), writer_allocs = m.orchestrator.allocations(m.writer_thread);
  if (loop_allocs && writer_allocs) {
    j.set("allocations_per_step", sagas::Json(static_cast<double>(*loop_allocs + *writer_allocs) / steps));
    j.set("loop_allocations_per_step", sagas::Json(static_cast<double>(*loop_allocs) / steps));
    j.set("writer_allocations_per_step", sagas::Json(static_cast<double>(*writer_allocs) / steps));
  }
  j.set("transitions_per_commit",
        sagas::Json(driver.commits == 0 ? 0.0
                                        : static_cast<double>(driver.transitions) / static_cast<double>(driver.commits)));
  j.set("commit_latency", m.commit_latency.to_json());
  // The share of the measured time the writer thread spent committing (the loop runs meanwhile).
  j.set("commit_share", sagas::Json((m.commit_seconds - m.commit_seconds_measured) / driver.seconds));
}

sagas::Json figures(const Settings& s, Wire wire, Participants participants, const Driver& driver, const Meters& m,
                    std::size_t active_at_end) {
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
  j.set("participants", sagas::Json(wire == Wire::in_process            ? "in-process"
                                    : participants == Participants::echo ? "echo"
                                                                         : "sdk"));
  add_orchestrator_figures(j, driver, m, n, steps);
  j.set("active_sagas_at_end", sagas::Json(static_cast<std::int64_t>(active_at_end)));
  std::error_code ec;
  auto db_bytes = s.postgres.empty() ? std::filesystem::file_size(s.dir + "/state.db", ec) : postgres_bytes(s.postgres);
  j.set("state_file_mib", sagas::Json(ec ? 0.0 : static_cast<double>(db_bytes) / (1024.0 * 1024.0)));
  // Every saga the file holds finished (the warm-up's too): bytes of state file per finished saga.
  j.set("state_bytes_per_saga", sagas::Json(ec ? 0.0 : static_cast<double>(db_bytes) / (s.sagas + s.warmup)));
  j.set("peak_rss_mib", sagas::Json(peak_rss_mib()));
  j.set("rss_end_mib", sagas::Json(current_rss_mib()));
  return j;
}

}  // namespace

sagas::Json run_engine(const Settings& s, Wire wire, bool fail_at_confirm, Participants participants) {
  auto compiled = dsl::compile(kOrderSaga, "bench-order.yaml");
  if (!compiled.ok()) throw std::runtime_error(dsl::format(compiled.diagnostics.front()));
  boost::asio::io_context io;
  if (!s.postgres.empty()) empty_postgres(s.postgres);
  auto store = cli::open_store({.state = s.postgres.empty() ? s.dir + "/state.db" : s.postgres,
                                  .synchronous_full = true, .read_only = false, .owner = "saga-bench"});
  if (!store) throw std::runtime_error(store.error().message);
  engine::SystemClock clock(io);
  Wiring w = connect(io, s, wire);

  Meters m;
  engine::EngineOptions options;
  if (s.events) options.events_topic = kEventsTopic;
  options.on_commit = [&](double seconds, std::size_t) {
    m.commit_latency.add(seconds * 1e6);
    m.commit_seconds += seconds;
  };
  engine::Engine engine(io, **store, *w.transport, clock, options);
  engine.add(compiled.definition);
  m.loop_thread = current_tid();
  const auto writer_thread = thread_named(engine::CommitWriter::kThreadName);
  if (!writer_thread) throw std::runtime_error("the engine's writer thread was not found by its name");
  m.writer_thread = *writer_thread;

  Services services(io, w, s, wire, participants, fail_at_confirm);
  if (auto st = engine.open(); !st.ok()) throw std::runtime_error(st.message);
  engine::EngineNode node{engine};
  Driver driver(io, node, s);
  driver.on_done = [&] {
    engine.close();
    io.stop();
  };
  driver.on_measure = [&] {
    m.commit_latency = Histogram();
    m.commit_seconds_measured = m.commit_seconds;
    m.orchestrator.begin({m.loop_thread, m.writer_thread});
  };
  driver.on_finished = [&] { m.orchestrator.end(); };
  boost::asio::post(io, [&] { driver.begin(); });
  io.run();
  services.stop();
  if (!driver.done()) throw std::runtime_error("the engine stopped before every saga finished");
  return figures(s, wire, participants, driver, m, engine.active_sagas());
}

}  // namespace bench
