// `sagactl dev-broker` and `sagactl run`: the development broker, and the orchestrator as a
// foreground service over Kafka and SQLite.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <ostream>
#include <set>

#include "dsl/loader.h"
#include "engine/engine.h"
#include "runtime/commands.h"
#include "runtime/dev_broker.h"
#include "runtime/kafka.h"
#include "state/sqlite_store.h"

namespace runtime {

namespace {

// Every topic the sagas use, and their dead-letter topics.
std::set<std::string> topics_of(const std::vector<sagas::DefinitionPtr>& defs) {
  std::set<std::string> topics;
  for (const auto& d : defs) {
    topics.insert(d->reply_topic);
    topics.insert(d->reply_topic + ".dlq");
    for (const auto& s : d->steps) {
      topics.insert(s.execute.topic);
      if (s.compensation) topics.insert(s.compensation->topic);
    }
  }
  return topics;
}

std::optional<std::string> create_topics(saga::DevBroker& broker, const std::set<std::string>& topics,
                                         int partitions) {
  for (const auto& t : topics) {
    if (auto err = broker.create_topic(t, partitions)) return err;
  }
  return std::nullopt;
}

dsl::LoadResult load_or_report(const std::vector<std::string>& paths, std::ostream& err) {
  std::vector<std::filesystem::path> ps(paths.begin(), paths.end());
  dsl::LoadResult r = dsl::load(ps);
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) err << dsl::format(d) << "\n";
  }
  return r;
}

}  // namespace

int dev_broker_command(const DevBrokerOptions& options, std::ostream& out, std::ostream& err) {
  std::vector<sagas::DefinitionPtr> defs;
  if (!options.sagas.empty()) {
    auto loaded = load_or_report(options.sagas, err);
    if (!loaded.ok()) {
      err << "dev-broker: fix the saga files above, or start without --sagas\n";
      return kExitError;
    }
    defs = loaded.definitions;
  }
  // Block the signals before the broker's threads start, so only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto broker = saga::DevBroker::start(options.brokers);
  if (!broker) {
    err << "dev-broker: " << broker.error() << "\n";
    return kExitError;
  }
  auto topics = topics_of(defs);
  if (!defs.empty()) topics.insert({"sagas.events", "sagas.start", "sagas.start.dlq"});
  if (auto e = create_topics(**broker, topics, options.partitions)) {
    err << "dev-broker: " << *e << "\n";
    return kExitError;
  }
  out << "bootstrap: " << (*broker)->bootstrap() << std::endl;  // flushed: scripts wait for this line
  int sig = 0;
  sigwait(&stop, &sig);
  return kExitOk;
}

int run_command(const RunOptions& options, std::ostream& out, std::ostream& err) {
  auto loaded = load_or_report(options.sagas, err);
  if (!loaded.ok()) {
    err << "run: the sagas above have errors; fix them (sagactl validate shows them all) and start again\n";
    return kExitError;
  }
  if (loaded.definitions.empty()) {
    err << "run: no saga files (*.yaml, *.yml) in " << options.sagas.front() << "; point --sagas at them\n";
    return kExitError;
  }
  auto store = state::SqliteStore::open({options.state, options.synchronous_full, false});
  if (!store) {
    err << "run: " << store.error().message << "\n";
    return kExitError;
  }

  bool embedded = options.brokers == "embedded";
  std::unique_ptr<saga::DevBroker> broker;
  saga::KafkaOptions kafka;
  kafka.brokers = options.brokers;
  kafka.properties = options.properties;
  kafka.group_id = options.group_id;
  kafka.consume = (options.consume.empty() ? embedded : options.consume == "assign")
                      ? saga::KafkaOptions::Consume::assign
                      : saga::KafkaOptions::Consume::group;
  kafka.fetch_wait_max_ms = options.fetch_wait_max_ms >= 0 ? options.fetch_wait_max_ms : (embedded ? 1 : 100);
  auto topics = topics_of(loaded.definitions);
  if (!options.events_topic.empty()) topics.insert(options.events_topic);
  if (!options.start_topic.empty()) topics.insert({options.start_topic, options.start_topic + ".dlq"});
  if (embedded) {
    auto b = saga::DevBroker::start(1);
    if (!b) {
      err << "run: " << b.error() << "\n";
      return kExitError;
    }
    broker = std::move(b).value();
    if (auto e = create_topics(*broker, topics, options.partitions)) {
      err << "run: " << *e << "\n";
      return kExitError;
    }
    kafka.brokers = broker->bootstrap();
    out << "bootstrap: " << broker->bootstrap() << std::endl;
    spdlog::info("bootstrap: {}", broker->bootstrap());
  }
  kafka.warm_topics.assign(topics.begin(), topics.end());

  boost::asio::io_context io;
  auto transport = saga::KafkaTransport::create(io, kafka);
  if (!transport) {
    err << "run: " << transport.error() << "\n";
    return kExitError;
  }
  saga::SystemClock clock(io);
  saga::EngineOptions eo;
  eo.events_topic = options.events_topic;
  eo.start_topic = options.start_topic;
  saga::Engine engine(io, **store, **transport, clock, eo);
  for (const auto& d : loaded.definitions) engine.add(d);
  if (auto st = engine.open(); !st.ok()) {
    err << "run: " << st.message << "\n";
    return kExitError;
  }
  spdlog::info("running {} saga definition(s); state in {}", loaded.definitions.size(), options.state);

  auto work = boost::asio::make_work_guard(io);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining", sig);
    engine.close();             // commits what is pending
    (*transport)->flush(5000);  // what is sent gets delivered; the rest stays in the outbox
    work.reset();
    io.stop();
  });
  io.run();
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace runtime
