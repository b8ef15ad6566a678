// `sagactl run`: the orchestrator (one engine, or a cluster node) as a foreground service over
// Kafka and a SQLite or PostgreSQL store, with its admin endpoint.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <mutex>
#include <thread>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>
#include <set>

#include "dsl/loader.h"
#include "engine/engine.h"
#include "server/admin.h"
#include "server/admin_api.h"
#include "cluster/bootstrap.h"
#include "cluster/cluster.h"
#include "cli/loading.h"
#include "cli/commands.h"
#include "server/metrics.h"
#include "kafka/dev_broker.h"
#include "kafka/transport.h"
#include "cli/stop_watchdog.h"
#include "cli/open_store.h"
#include "cli/reloader.h"
#include "postgres/cluster.h"
#include "postgres/store.h"

namespace cli {

namespace {

// "host:/absolute/state/file" (or "host:URL" without its password): who consumes with the
// group (stable across restarts), and who holds a PostgreSQL store.
std::string owner_of(const std::string& state) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  if (postgres::is_postgres_url(state)) return std::string(host) + ":" + describe_state(state);
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

}  // namespace

namespace {

// The largest message the producer sends: librdkafka's message.max.bytes, from the
// configured properties, else its default (the engine's).
std::size_t max_message_bytes(const Config& c) {
  const std::size_t librdkafka_default = engine::EngineOptions{}.max_message_bytes;
  auto it = c.kafka.properties.find("message.max.bytes");
  if (it == c.kafka.properties.end()) return librdkafka_default;
  try {
    return static_cast<std::size_t>(std::stoul(it->second));
  } catch (const std::exception&) {
    return librdkafka_default;  // check_properties has refused it already
  }
}

// Every configuration problem, found before the state, the broker or the admin endpoint is
// touched; else the admin token.
sagas::Result<AdminToken, std::string> checked_token(const Config& c) {
  for (auto problem : {check_brokers(c.kafka.brokers), kafka::check_properties(c.kafka.properties),
                       c.admin.empty() ? std::nullopt : server::check_listen_address(c.admin)}) {
    if (problem) return *problem;
  }
  auto token = admin_token(c);
  if (!token) return token.error();
  if (!c.admin.empty() && token->value.empty() && !server::is_loopback(c.admin)) {
    return "the admin endpoint " + c.admin + " would accept saga control from the network without credentials; set "
           "a token (admin.token or admin.token_file in the config, SAGACTL_ADMIN_TOKEN, or --admin-token-file), or "
           "listen on 127.0.0.1";
  }
  return std::move(token).value();
}

// The store, owned by this orchestrator; a standby waits here for the owner to go.
sagas::Result<std::unique_ptr<state::Store>, state::Status> open_owned(const Config& c) {
  if (c.standby) spdlog::info("standby: waiting to take {} over from its owner", describe_state(c.state));
  auto store = open_store({.state = c.state, .synchronous_full = c.synchronous == "full", .read_only = false,
                                  .owner = owner_of(c.state) + " pid " + std::to_string(::getpid()),
                                  .wait_for_owner = c.standby});
  if (store && c.standby) spdlog::info("standby: took {} over", describe_state(c.state));
  return store;
}

// Cluster membership: the lowest session timeout a Kafka broker accepts by default
// (group.min.session.timeout.ms), and heartbeats often enough that a few may be lost in it.
constexpr int kClusterSessionTimeoutMs = 6'000;
constexpr int kClusterHeartbeatMs = 1'000;
// After a shard failed to open (the database unreachable), the next try.
constexpr engine::TimeMs kShardReopenDelayMs = 1'000;
// How long stopping waits for the broker to take what was sent.
constexpr auto kStoreCheckInterval = std::chrono::seconds(1);

kafka::KafkaOptions kafka_options(const Config& c, bool embedded) {
  kafka::KafkaOptions kafka;
  kafka.shutdown_timeout_ms = static_cast<int>(c.shutdown_timeout.count());
  if (c.cluster) {
    // Every node consumes in the group and works the shards of its partitions; the offsets
    // name the cluster (its database), so a single orchestrator on the same group is refused.
    kafka.brokers = c.kafka.brokers;
    kafka.properties = c.kafka.properties;
    kafka.group_id = c.kafka.group;
    kafka.consume = kafka::KafkaOptions::Consume::group;
    kafka.shared_partitions = true;
    kafka.owner = "cluster " + describe_state(c.state);
    kafka.instance_id = instance_id_of(c.node + ":" + kafka.owner);
    kafka.client_id = "sagactl-" + c.node;
    kafka.fetch_wait_max_ms = c.kafka.fetch_wait_ms >= 0 ? c.kafka.fetch_wait_ms : 100;
    // A node that vanished holds its shards this long (docs/cluster.md, failover time);
    // kafka.properties may say otherwise.
    kafka.session_timeout_ms = kClusterSessionTimeoutMs;
    kafka.properties.try_emplace("heartbeat.interval.ms", std::to_string(kClusterHeartbeatMs));
    return kafka;
  }
  kafka.brokers = c.kafka.brokers;
  kafka.properties = c.kafka.properties;
  kafka.group_id = c.kafka.group;
  // One orchestrator owns one state file, so it needs no group membership to own its reply
  // partitions: it takes them (a restart consumes at once). The group is for shared work.
  kafka.consume = c.kafka.consume == "group" ? kafka::KafkaOptions::Consume::group : kafka::KafkaOptions::Consume::assign;
  kafka.owner = owner_of(c.state);
  kafka.instance_id = instance_id_of(kafka.owner);
  kafka.fetch_wait_max_ms = c.kafka.fetch_wait_ms >= 0 ? c.kafka.fetch_wait_ms : (embedded ? 1 : 100);
  return kafka;
}

// What cluster mode needs that a single orchestrator does not, checked before anything starts.
std::optional<std::string> check_cluster(const Config& c) {
  if (!postgres::is_postgres_url(c.state)) {
    return "cluster mode keeps its state in PostgreSQL: set state to a postgres://… URL every node can reach";
  }
  if (c.kafka.brokers == "embedded") {
    return "cluster mode needs a broker every node shares: set kafka.brokers (sagactl dev-broker --brokers 3 for "
           "trying it)";
  }
  if (c.kafka.start_topic.empty()) return "cluster mode needs kafka.start_topic: nodes hand starts on in its format";
  if (c.standby) return "standby and cluster exclude each other: in a cluster every node works (its shards)";
  return std::nullopt;
}

std::string node_name(const Config& c) {
  if (!c.node.empty()) return c.node;
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  return host;
}

// The embedded development broker with every topic the orchestrator uses; `kafka` is pointed
// at it.
sagas::Result<std::unique_ptr<kafka::DevBroker>, std::string> start_embedded(const Config& c,
                                                                            const std::set<std::string>& topics,
                                                                            kafka::KafkaOptions& kafka, std::ostream& out) {
  auto broker = kafka::DevBroker::start(1, c.kafka.embedded_port);
  if (!broker) {
    return broker.error() + ". The embedded broker's port is --embedded-port (kafka.embedded_port in sagactl.yaml; 0 "
                            "for any free one); participants then need --brokers set to the `bootstrap:` line run "
                            "prints";
  }
  if (auto e = create_topics(**broker, topics, c.kafka.partitions)) return *e;
  kafka.brokers = (*broker)->bootstrap();
  out << "bootstrap: " << (*broker)->bootstrap() << std::endl;
  spdlog::info("bootstrap: {}", (*broker)->bootstrap());
  return std::move(broker).value();
}

// Serves until a signal (or `halt` from elsewhere): the admin endpoint, SIGHUP's reload, and
// the one way out, which closes the node and flushes what it sent.
int serve(const Config& c, boost::asio::io_context& io, engine::Node& node, server::AdminServer* server,
          std::vector<kafka::KafkaTransport*> transports, kafka::DevBroker* broker, std::function<void()>& halt,
          StopWatchdog& watchdog) {
  spdlog::info("running {} saga definition(s); state in {}", node.definitions().size(), describe_state(c.state));

  auto work = boost::asio::make_work_guard(io);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::signal_set hangup(io, SIGHUP);
  Reloader reloader(c, io, node, broker);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      reloader.request();
      await_hangup();
    });
  };
  await_hangup();
  // The state store's identity, checked while nothing else would notice (an idle orchestrator
  // whose file was truncated or replaced must not keep saying it is healthy).
  boost::asio::steady_timer store_check(io);
  std::function<void()> check_store_soon = [&] {
    store_check.expires_after(kStoreCheckInterval);
    store_check.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      node.check_store();
      check_store_soon();
    });
  };
  check_store_soon();
  // The one way out: on a signal, or when another orchestrator took the store over.
  // Every step of it keeps one deadline (shutdown_timeout), and the watchdog ends the process
  // should one of them not.
  halt = [&] {
    auto deadline = watchdog.arm(c.shutdown_timeout, "run");
    signals.cancel();
    hangup.cancel();
    store_check.cancel();
    if (server) server->stop();
    node.close();  // commits what is pending (nothing, once fenced)
    for (auto* t : transports) t->shutdown(deadline);  // delivers what it can; the rest stays in the outbox
    work.reset();
    io.stop();
  };
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining", sig);
    halt();
  });
  io.run();
  return kExitOk;
}

// The admin endpoint, opened before anything waits on the network: an orchestrator waiting
// for its brokers answers /healthz and /readyz (503, saying why) from the start. Requests go
// to `handler`, which the caller replaces once the orchestrator is open. Null when off.
sagas::Result<std::unique_ptr<server::AdminServer>, std::string> open_admin(const Config& c, boost::asio::io_context& io,
                                                                    server::HttpHandler& handler, std::ostream& out) {
  if (c.admin.empty()) return std::unique_ptr<server::AdminServer>();
  server::AdminServerOptions options;
  options.hosts = c.admin_hosts;
  options.idle_timeout = c.admin_idle_timeout;
  options.max_connections = static_cast<std::size_t>(c.admin_max_connections);
  auto s = server::AdminServer::start(
      io, c.admin, [&handler](const server::HttpRequest& req, std::function<void(server::HttpResponse)> respond) { handler(req, respond); },
      std::move(options));
  if (!s) return s.error();
  out << "admin: " << (*s)->address() << std::endl;  // with port 0, the one it got
  out << "console: http://" << (*s)->address() << "/" << std::endl;
  spdlog::info("console: http://{}/ (admin API beside it: /healthz, /readyz, /metrics, /v1/sagas)", (*s)->address());
  return std::move(s).value();
}

// While the brokers are awaited: every route answers 503 with why.
struct Starting {
  std::mutex mu;
  std::string problem = "connecting to the brokers";  // guarded by mu

  server::HttpResponse answer(const server::HttpRequest& req) {
    std::string why;
    {
      std::lock_guard lock(mu);
      why = problem;
    }
    sagas::Json j = sagas::Json::object();
    j.set("status", sagas::Json(req.target == "/readyz" ? "not ready" : "starting"));
    j.set(req.target == "/healthz" ? "broker" : "reason", sagas::Json(why));
    if (req.target != "/healthz" && req.target != "/readyz") j.set("error", sagas::Json("starting: " + why));
    return server::json_response(503, j);
  }
};

// Waits for the brokers to answer a metadata request for every topic at once, backing off
// from kFirstProbeMs to kMaxProbeMs, for at most kafka.connect_timeout (0: for as long as
// it takes). Logs once per change. The admin endpoint answers meanwhile, on `io`, run here
// on a thread of its own. Returns why it gave up.
std::optional<std::string> await_brokers(const Config& c, kafka::KafkaTransport& transport, boost::asio::io_context& io,
                                         Starting& starting) {
  constexpr int kFirstProbeMs = 1'000;
  constexpr int kMaxProbeMs = 8'000;
  auto work = boost::asio::make_work_guard(io);
  std::thread loop([&io] { io.run(); });
  auto began = std::chrono::steady_clock::now();
  std::optional<std::string> gave_up;
  bool said = false;
  for (int wait_ms = kFirstProbeMs;; wait_ms = std::min(wait_ms * 2, kMaxProbeMs)) {
    auto problem = transport.probe_brokers(wait_ms);
    if (!problem) break;
    if (auto since = transport.brokers_unreachable()) problem = *since;
    {
      std::lock_guard lock(starting.mu);
      starting.problem = *problem;
    }
    if (!said) {
      spdlog::warn("kafka: {}; retrying (kafka.connect_timeout: {}), /readyz answers 503 meanwhile", *problem,
                   c.kafka.connect_timeout.count() > 0 ? std::to_string(c.kafka.connect_timeout.count()) + " ms"
                                                       : std::string("none, retrying until they answer"));
      said = true;
    }
    auto waited = std::chrono::steady_clock::now() - began;
    if (c.kafka.connect_timeout.count() > 0 && waited >= c.kafka.connect_timeout) {
      gave_up = "cannot reach the brokers " + c.kafka.brokers + " within kafka.connect_timeout (" +
                std::to_string(c.kafka.connect_timeout.count()) + " ms): check kafka.brokers and that they run";
      break;
    }
  }
  if (said && !gave_up) {
    spdlog::info("kafka: brokers {} answer (after {} ms)", c.kafka.brokers,
                 std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - began).count());
  }
  work.reset();
  io.stop();
  loop.join();
  io.restart();
  return gave_up;
}

// The options of every engine `run` makes (the one, or one per shard).
engine::EngineOptions engine_options(const Config& c, server::Metrics& metrics) {
  engine::EngineOptions eo;
  eo.events_topic = c.kafka.events_topic;
  eo.start_topic = c.kafka.start_topic;
  eo.retention = c.retention.count();
  eo.max_message_bytes = max_message_bytes(c);
  eo.on_commit = [&metrics](double seconds, std::size_t n) { metrics.observe_commit(seconds, n); };
  return eo;
}

// What reaches the outside before the orchestrator opens: the embedded broker (when asked
// for), the admin endpoint (answering 503 while the brokers are awaited) and the transport.
struct Outside {
  std::unique_ptr<kafka::DevBroker> broker;
  std::unique_ptr<server::AdminServer> server;
  std::unique_ptr<kafka::KafkaTransport> transport;
  kafka::KafkaOptions kafka;
};

sagas::Result<Outside, std::string> reach_outside(const Config& c, const std::vector<sagas::DefinitionPtr>& defs,
                                                  boost::asio::io_context& io, server::HttpHandler& admin_handler,
                                                  Starting& starting, std::ostream& out) {
  Outside o;
  o.kafka = kafka_options(c, c.kafka.brokers == "embedded");
  auto topics = topics_of(defs);
  if (!c.kafka.events_topic.empty()) topics.insert(c.kafka.events_topic);
  if (!c.kafka.start_topic.empty()) topics.insert({c.kafka.start_topic, c.kafka.start_topic + ".dlq"});
  if (c.kafka.brokers == "embedded") {
    auto b = start_embedded(c, topics, o.kafka, out);
    if (!b) return b.error();
    o.broker = std::move(b).value();
  }
  o.kafka.warm_topics.assign(topics.begin(), topics.end());
  // After the embedded broker (local, it waits on no network), so "bootstrap:" comes first on
  // stdout; before anything waits on the brokers.
  auto server = open_admin(c, io, admin_handler, out);
  if (!server) return server.error();
  o.server = std::move(server).value();
  auto transport = kafka::KafkaTransport::create(io, o.kafka);
  if (!transport) return transport.error();
  o.transport = std::move(transport).value();
  if (auto gave_up = await_brokers(c, *o.transport, io, starting)) return *gave_up;
  return o;
}

// What works the sagas: one engine over the owned store, or a cluster node over its shards.
struct Orchestrator {
  std::unique_ptr<engine::Engine> engine;  // a single orchestrator's
  std::unique_ptr<engine::Node> node;
  engine::Status open() { return engine ? engine->open() : static_cast<cluster::ClusterNode&>(*node).open(); }
};

Orchestrator make_orchestrator(const Config& c, boost::asio::io_context& io, state::Store* store, engine::Clock& clock,
                               kafka::KafkaTransport& transport, const cluster::Parts& cluster,
                               const std::vector<sagas::DefinitionPtr>& defs, engine::EngineOptions eo) {
  Orchestrator o;
  if (c.cluster) {
    eo.on_fenced = nullptr;  // a fenced shard has moved to another node: the node goes on with the others
    o.node = std::make_unique<cluster::ClusterNode>(io, transport, *cluster.routing, *cluster.view,
                                                    cluster::ClusterOptions{.url = c.state, .node = c.node,
                                                                            .shard_topic = cluster.shape.topic,
                                                                            .reply_topics = cluster::reply_topics_of(defs),
                                                                            .start_topic = c.kafka.start_topic,
                                                                            .shards = cluster.shape.shards, .engine = eo,
                                                                            .reopen_delay_ms = kShardReopenDelayMs});
  } else {
    o.engine = std::make_unique<engine::Engine>(io, *store, transport, clock, eo);
    o.node = std::make_unique<engine::EngineNode>(*o.engine);
  }
  for (const auto& d : defs) o.node->add(d);
  return o;
}

// What `run` checks and takes before it reaches the network: the sagas (their problems printed
// to `err`), the admin token, cluster mode's conditions, and a single orchestrator's store (a
// cluster node opens its shards' as the group assigns them).
struct Prepared {
  dsl::LoadResult loaded;
  AdminToken token;
  std::unique_ptr<state::Store> store;
};

sagas::Result<Prepared, std::string> prepare(const Config& c, std::ostream& err) {
  Prepared p;
  p.loaded = load_or_report(c.sagas, err);
  if (!p.loaded.ok()) return std::string("the sagas above have errors; fix them (sagactl validate shows them all) and start again");
  if (p.loaded.definitions.empty()) {
    return "no saga files (*.yaml, *.yml) in " + c.sagas.front() + "; point sagas (or --sagas) at them";
  }
  auto token = checked_token(c);
  if (!token) return token.error();
  p.token = std::move(token).value();
  if (c.cluster) {
    if (auto problem = check_cluster(c)) return *problem;
    return p;
  }
  auto owned = open_owned(c);
  if (!owned) return owned.error().message;
  p.store = std::move(owned).value();
  return p;
}

}  // namespace

int run_command(const Config& config, std::ostream& out, std::ostream& err) {
  StopWatchdog watchdog;  // first: it outlives every part whose stop it bounds
  Config c = config;
  if (c.cluster) c.node = node_name(c);
  auto fail = [&](const std::string& why) {
    err << "run: " << why << "\n";
    return kExitError;
  };
  auto prepared = prepare(c, err);
  if (!prepared) return fail(prepared.error());
  auto& [loaded, token, store] = *prepared;
  boost::asio::io_context io;
  Starting starting;
  server::HttpHandler admin_handler = [&starting](const server::HttpRequest& req, std::function<void(server::HttpResponse)> respond) {
    respond(starting.answer(req));
  };
  auto outside = reach_outside(c, loaded.definitions, io, admin_handler, starting, out);
  if (!outside) return fail(outside.error());
  cluster::Parts cluster;
  if (c.cluster) {
    cluster::JoinOptions join{.url = c.state, .node = c.node, .group = c.kafka.group,
                              .routing_instance_id = instance_id_of(c.node + ":routing:" + outside->kafka.owner)};
    auto parts = cluster::open_parts(io, join, outside->kafka, *outside->transport, loaded.definitions);
    if (!parts) return fail(parts.error());
    cluster = std::move(parts).value();
  }
  server::Metrics metrics;
  engine::SystemClock clock(io);
  engine::EngineOptions eo = engine_options(c, metrics);
  // Another orchestrator took the store over: this one has nothing left to do but stop.
  std::optional<std::string> fenced;
  std::function<void()> halt;
  eo.on_fenced = [&](const std::string& why) {
    fenced = why;
    boost::asio::post(io, [&] { halt(); });
  };
  Orchestrator orchestrator =
      make_orchestrator(c, io, store.get(), clock, *outside->transport, cluster, loaded.definitions, eo);
  engine::Node& node = *orchestrator.node;
  server::AdminApi admin{io, node, *outside->transport, metrics, token.value};
  node.on_event([&](const engine::Event& e) {
    metrics.observe(e);
    admin.saga_changed(e);
  });
  if (auto opened = orchestrator.open(); !opened.ok()) return fail(opened.message);
  std::vector<kafka::KafkaTransport*> transports{outside->transport.get()};
  if (cluster.routing) transports.push_back(cluster.routing.get());
  admin_handler = [&admin](const server::HttpRequest& req, std::function<void(server::HttpResponse)> respond) {
    admin.handle(req, std::move(respond));
  };
  if (int code = serve(c, io, node, outside->server.get(), transports, outside->broker.get(), halt, watchdog);
      code != kExitOk) {
    return code;
  }
  if (fenced) return fail(*fenced);
  spdlog::info("stopped cleanly");
  return kExitOk;
}

}  // namespace cli
