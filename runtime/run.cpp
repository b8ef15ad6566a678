// `sagactl dev-broker` and `sagactl run`: the development broker, and the orchestrator as a
// foreground service over Kafka and SQLite.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>

#include "dsl/loader.h"
#include "engine/engine.h"
#include "runtime/admin.h"
#include "runtime/admin_api.h"
#include "runtime/commands.h"
#include "runtime/metrics.h"
#include "runtime/dev_broker.h"
#include "runtime/kafka.h"
#include "state/open_store.h"
#include "state/postgres_store.h"

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

// "host:/absolute/state/file" (or "host:URL" without its password): who consumes with the
// group (stable across restarts), and who holds a PostgreSQL store.
std::string owner_of(const std::string& state) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  if (state::is_postgres_url(state)) return std::string(host) + ":" + state::describe_state(state);
  std::error_code ec;
  auto abs = std::filesystem::absolute(state, ec);
  return std::string(host) + ":" + (ec ? state : abs.lexically_normal().string());
}

// group.instance.id allows [a-zA-Z0-9._-]: the host, and a hash of the whole owner so two
// state files on one host are two members. Stable across restarts: static membership.
std::string instance_id_of(const std::string& owner) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char ch : owner) h = (h ^ ch) * 1099511628211ULL;
  std::string id = "sagactl-";
  for (char ch : owner.substr(0, owner.find(':'))) id += std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ? ch : '-';
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return id + "-" + hex;
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
  auto broker = saga::DevBroker::start(options.brokers, options.port);
  if (!broker) {
    err << "dev-broker: " << broker.error() << "\n";
    return kExitError;
  }
  out << "bootstrap: " << (*broker)->bootstrap() << std::endl;  // flushed: scripts wait for this line
  auto topics = topics_of(defs);
  if (!defs.empty()) topics.insert({"sagas.events", "sagas.start", "sagas.start.dlq"});
  if (auto e = create_topics(**broker, topics, options.partitions)) {
    err << "dev-broker: " << *e << "\n";
    return kExitError;
  }
  int sig = 0;
  sigwait(&stop, &sig);
  return kExitOk;
}

namespace {

// SIGHUP: the saga files are read again. New definitions (a new saga, a new version) are
// added; running sagas keep the definition they started with; a loaded name and version is
// never replaced (a changed file needs a new `version:` to take effect); a file with errors
// keeps the old set and says why.
void reload_definitions(const Config& c, saga::Engine& engine, saga::DevBroker* broker) {
  std::ostringstream problems;
  auto loaded = load_or_report(c.sagas, problems);
  auto current = engine.definitions();
  if (!loaded.ok()) {
    spdlog::error("reload (SIGHUP) refused: the saga files have errors; the {} loaded definition(s) stay:\n{}",
                  current.size(), problems.str());
    return;
  }
  std::size_t added = 0;
  for (const auto& def : loaded.definitions) {
    bool known = std::any_of(current.begin(), current.end(), [&](const sagas::DefinitionPtr& d) {
      return d->name == def->name && d->version == def->version;
    });
    if (known) continue;
    if (broker != nullptr) {
      if (auto e = create_topics(*broker, topics_of({def}), c.kafka.partitions)) {
        spdlog::error("reload (SIGHUP): {} v{} not loaded: {}", def->name, def->version, *e);
        continue;
      }
    }
    engine.add(def);
    ++added;
    spdlog::info("reload (SIGHUP): loaded {} v{} from {}", def->name, def->version, def->source);
  }
  spdlog::info("reload (SIGHUP): {} new definition(s), {} loaded in all (a changed file needs a new version: "
               "number to take effect)",
               added, current.size() + added);
}

// Every configuration problem, found before the state, the broker or the admin endpoint is
// touched; else the admin token.
sagas::Result<AdminToken, std::string> checked_token(const Config& c) {
  for (auto problem : {saga::check_brokers(c.kafka.brokers), saga::check_properties(c.kafka.properties),
                       c.admin.empty() ? std::nullopt : check_listen_address(c.admin)}) {
    if (problem) return *problem;
  }
  auto token = admin_token(c);
  if (!token) return token.error();
  if (!c.admin.empty() && token->value.empty() && !is_loopback(c.admin)) {
    return "the admin endpoint " + c.admin + " would accept saga control from the network without credentials; set "
           "a token (admin.token or admin.token_file in the config, SAGACTL_ADMIN_TOKEN, or --admin-token-file), or "
           "listen on 127.0.0.1";
  }
  return std::move(token).value();
}

// The store, owned by this orchestrator; a standby waits here for the owner to go.
sagas::Result<std::unique_ptr<state::Store>, state::Status> open_owned(const Config& c) {
  if (c.standby) spdlog::info("standby: waiting to take {} over from its owner", state::describe_state(c.state));
  auto store = state::open_store({.state = c.state, .synchronous_full = c.synchronous_full, .read_only = false,
                                  .owner = owner_of(c.state) + " pid " + std::to_string(::getpid()),
                                  .wait_for_owner = c.standby});
  if (store && c.standby) spdlog::info("standby: took {} over", state::describe_state(c.state));
  return store;
}

saga::KafkaOptions kafka_options(const Config& c, bool embedded) {
  saga::KafkaOptions kafka;
  kafka.brokers = c.kafka.brokers;
  kafka.properties = c.kafka.properties;
  kafka.group_id = c.kafka.group;
  // One orchestrator owns one state file, so it needs no group membership to own its reply
  // partitions: it takes them (a restart consumes at once). The group is for shared work.
  kafka.consume = c.kafka.consume == "group" ? saga::KafkaOptions::Consume::group : saga::KafkaOptions::Consume::assign;
  kafka.owner = owner_of(c.state);
  kafka.instance_id = instance_id_of(kafka.owner);
  kafka.fetch_wait_max_ms = c.kafka.fetch_wait_ms >= 0 ? c.kafka.fetch_wait_ms : (embedded ? 1 : 100);
  return kafka;
}

}  // namespace

int run_command(const Config& c, std::ostream& out, std::ostream& err) {
  auto loaded = load_or_report(c.sagas, err);
  if (!loaded.ok()) {
    err << "run: the sagas above have errors; fix them (sagactl validate shows them all) and start again\n";
    return kExitError;
  }
  if (loaded.definitions.empty()) {
    err << "run: no saga files (*.yaml, *.yml) in " << c.sagas.front() << "; point sagas (or --sagas) at them\n";
    return kExitError;
  }
  auto token = checked_token(c);
  if (!token) {
    err << "run: " << token.error() << "\n";
    return kExitError;
  }
  auto store = open_owned(c);
  if (!store) {
    err << "run: " << store.error().message << "\n";
    return kExitError;
  }

  bool embedded = c.kafka.brokers == "embedded";
  std::unique_ptr<saga::DevBroker> broker;
  saga::KafkaOptions kafka = kafka_options(c, embedded);
  auto topics = topics_of(loaded.definitions);
  if (!c.kafka.events_topic.empty()) topics.insert(c.kafka.events_topic);
  if (!c.kafka.start_topic.empty()) topics.insert({c.kafka.start_topic, c.kafka.start_topic + ".dlq"});
  if (embedded) {
    auto b = saga::DevBroker::start(1, c.kafka.embedded_port);
    if (!b) {
      err << "run: " << b.error() << "\n";
      return kExitError;
    }
    broker = std::move(b).value();
    if (auto e = create_topics(*broker, topics, c.kafka.partitions)) {
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
  Metrics metrics;
  saga::SystemClock clock(io);
  saga::EngineOptions eo;
  eo.events_topic = c.kafka.events_topic;
  eo.start_topic = c.kafka.start_topic;
  eo.retention = c.retention.count();
  eo.on_commit = [&](double seconds, std::size_t n) { metrics.observe_commit(seconds, n); };
  // Another orchestrator took the store over: this one has nothing left to do but stop.
  std::optional<std::string> fenced;
  std::function<void()> halt;
  eo.on_fenced = [&](const std::string& why) {
    fenced = why;
    boost::asio::post(io, [&] { halt(); });
  };
  saga::Engine engine(io, **store, **transport, clock, eo);
  for (const auto& d : loaded.definitions) engine.add(d);
  AdminApi admin{io, engine, **transport, metrics, token->value};
  engine.on_event([&](const saga::Event& e) {
    metrics.observe(e);
    admin.saga_changed(e.saga_id.value());
  });
  if (auto st = engine.open(); !st.ok()) {
    err << "run: " << st.message << "\n";
    return kExitError;
  }
  std::unique_ptr<AdminServer> server;
  if (!c.admin.empty()) {
    auto s = AdminServer::start(io, c.admin, [&](const HttpRequest& req, std::function<void(HttpResponse)> respond) {
      admin.handle(req, respond);
    });
    if (!s) {
      err << "run: " << s.error() << "\n";
      return kExitError;
    }
    server = std::move(s).value();
    out << "admin: " << server->address() << std::endl;  // with port 0, the one it got
    spdlog::info("admin endpoint on http://{} (/healthz, /metrics, /v1/sagas)", server->address());
  }
  spdlog::info("running {} saga definition(s); state in {}", loaded.definitions.size(), state::describe_state(c.state));

  auto work = boost::asio::make_work_guard(io);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set hangup(io, SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reload_definitions(c, engine, broker.get());
      await_hangup();
    });
  };
  await_hangup();
  // The one way out: on a signal, or when another orchestrator took the store over.
  halt = [&] {
    signals.cancel();
    hangup.cancel();
    if (server) server->stop();
    engine.close();             // commits what is pending (nothing, once fenced)
    (*transport)->flush(5000);  // what is sent gets delivered; the rest stays in the outbox
    work.reset();
    io.stop();
  };
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining", sig);
    halt();
  });
  io.run();
  if (fenced) {
    err << "run: " << *fenced << "\n";
    return kExitError;
  }
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace runtime
