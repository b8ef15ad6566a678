// `sagactl dev-broker` and `sagactl run`: the development broker, and the orchestrator as a
// foreground service over Kafka and SQLite.
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <set>
#include <sstream>

#include "dsl/loader.h"
#include "engine/engine.h"
#include "runtime/admin.h"
#include "runtime/commands.h"
#include "runtime/metrics.h"
#include "runtime/views.h"
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

// "host:/absolute/state/file": who consumes with the group (stable across restarts).
std::string owner_of(const std::string& state) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
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

HttpResponse json_response(int status, const sagas::Json& body) {
  return {status, "application/json", body.dump() + "\n", {}};
}

HttpResponse error_response(int status, const std::string& message) {
  sagas::Json j = sagas::Json::object();
  j.set("error", sagas::Json(message));
  return json_response(status, j);
}

int http_status_of(saga::Errc code) {
  switch (code) {
    case saga::Errc::invalid_input: return 400;
    case saga::Errc::unknown_saga:
    case saga::Errc::not_found: return 404;
    case saga::Errc::conflict: return 409;
    default: return 503;
  }
}

// The admin API: health, metrics, and what `sagactl start|compensate` and `--wait` use.
struct Admin {
  saga::Engine& engine;
  saga::KafkaTransport& transport;
  Metrics& metrics;
  std::string token;  // empty: no credentials asked (loopback only)

  void handle(const HttpRequest& req, const std::function<void(HttpResponse)>& respond) {
    std::string path = req.target.substr(0, req.target.find('?'));
    // Probes stay open: orchestrators of containers call them without credentials.
    if (req.method == "GET" && path == "/healthz") return respond(health());
    if (req.method == "GET" && path == "/readyz") return respond(readiness());
    if (!token.empty() && !bearer_matches(req.authorization, token)) {
      HttpResponse r = error_response(401, req.authorization.empty()
                                               ? "this endpoint needs the admin token: send Authorization: Bearer "
                                                 "TOKEN (sagactl sends admin.token from its configuration)"
                                               : "the admin token does not match: check admin.token (or "
                                                 "admin.token_file, SAGACTL_ADMIN_TOKEN) against the orchestrator's");
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sagactl\"");
      return respond(std::move(r));
    }
    if (req.method == "GET" && path == "/metrics") {
      Metrics::Gauges g;
      g.active_sagas = engine.active_sagas();
      g.outbox_depth = engine.unconfirmed_sends();
      g.consumer_lag = transport.consumer_lag();
      g.dead_letters = engine.stats().dead_letters;
      g.duplicate_replies = engine.stats().duplicates;
      g.broker_up = transport.brokers_up();
      g.store_ok = engine.store_healthy();
      g.store_read_failures = engine.stats().read_failures;
      g.ready = engine.ready();
      return respond({200, "text/plain; version=0.0.4; charset=utf-8", metrics.render(g), {}});
    }
    const std::string prefix = "/v1/sagas";
    if (path == prefix && req.method == "POST") return start(req, respond);
    if (path == prefix && req.method == "GET") return respond(list(req.target));
    if (path.rfind(prefix + "/", 0) == 0) {
      std::string rest = path.substr(prefix.size() + 1);
      const std::string suffix = "/compensate";
      if (req.method == "POST" && rest.size() > suffix.size() &&
          rest.compare(rest.size() - suffix.size(), suffix.size(), suffix) == 0) {
        return compensate(rest.substr(0, rest.size() - suffix.size()), req, respond);
      }
      if (req.method == "GET" && rest.find('/') == std::string::npos) {
        auto s = engine.status(saga::SagaId(rest));
        if (!s) return respond(error_response(http_status_of(s.error().code), s.error().message));
        return respond(json_response(200, status_json(*s)));
      }
    }
    respond(error_response(404, "no such endpoint: " + req.method + " " + path +
                                    " (GET /healthz, GET /readyz, GET /metrics, GET|POST /v1/sagas, GET /v1/sagas/ID, "
                                    "POST /v1/sagas/ID/compensate)"));
  }

  // GET /v1/sagas?status=S&saga=NAME&limit=N&offset=N: the same filters and JSON as `sagactl
  // list --json`, newest first.
  HttpResponse list(const std::string& target) {
    constexpr std::size_t kMaxLimit = 100000;
    auto url = boost::urls::parse_origin_form(target);
    if (!url) return error_response(400, "the request target is not a valid URL: " + url.error().message());
    state::ListFilter f;
    f.limit = kDefaultListLimit;
    for (const auto& p : url->params()) {
      if (p.key == "status") {
        f.state = sagas::saga_state_from(p.value);
        if (!f.state) {
          return error_response(400, "status=" + p.value +
                                         " is not a saga state; use running, completed, compensating, compensated or failed");
        }
      } else if (p.key == "saga") {
        f.saga = p.value;
      } else if (p.key == "limit" || p.key == "offset") {
        auto n = parse_count(p.value);
        if (!n || (p.key == "limit" && (*n == 0 || *n > kMaxLimit))) {
          return error_response(400, p.key + "=" + p.value + " must be a whole number" +
                                         (p.key == "limit" ? " from 1 to 100000" : ""));
        }
        (p.key == "limit" ? f.limit : f.offset) = *n;
      } else {
        return error_response(400, "unknown parameter " + p.key + "; use status, saga, limit and offset");
      }
    }
    auto listed = engine.list(f);
    if (!listed) return error_response(http_status_of(listed.error().code), listed.error().message);
    return json_response(200, list_json(*listed));
  }

  static std::optional<std::size_t> parse_count(const std::string& text) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return n;
  }

  HttpResponse health() {
    bool store = engine.store_healthy();
    bool broker = transport.brokers_up();
    sagas::Json j = sagas::Json::object();
    j.set("status", sagas::Json(store && broker ? "ok" : "degraded"));
    j.set("store", sagas::Json(store ? "ok" : "failing"));
    j.set("broker", sagas::Json(broker ? "ok" : "down"));
    return json_response(store && broker ? 200 : 503, j);
  }

  // 200 once the reply consumer owns its partitions and has applied what waited on them.
  HttpResponse readiness() {
    bool consumer = engine.ready();
    bool store = engine.store_healthy();
    sagas::Json j = sagas::Json::object();
    j.set("status", sagas::Json(consumer && store ? "ready" : "not ready"));
    if (!consumer) {
      j.set("reason", sagas::Json("the reply consumer has not yet caught up with its partitions (starting, "
                                  "rebalancing, or the brokers are unreachable)"));
    } else if (!store) {
      j.set("reason", sagas::Json("the state file is failing; commits are being retried"));
    }
    return json_response(consumer && store ? 200 : 503, j);
  }

  void start(const HttpRequest& req, const std::function<void(HttpResponse)>& respond) {
    auto body = sagas::Json::parse(req.body);
    if (!body || !body->is_object()) {
      return respond(error_response(400, "the request body must be a JSON object {\"saga\", \"input\", \"id\"}"));
    }
    const sagas::Json* name = body->find("saga");
    if (!name || !name->is_string()) return respond(error_response(400, "\"saga\" (the saga's name) is required"));
    const sagas::Json* input = body->find("input");
    saga::StartOptions opts;
    if (const sagas::Json* id = body->find("id"); id && id->is_string() && !id->as_string().empty()) {
      opts.id = id->as_string();
    }
    // The answer waits for the commit: a started saga is durable when the caller hears of it.
    auto answer = std::make_shared<sagas::Json>();  // null until the start is accepted
    auto r = engine.start(name->as_string(), input ? *input : sagas::Json::object(), opts,
                          [respond, answer](const saga::Status& st) {
                            if (answer->is_null()) return;  // an existing saga: answered below
                            respond(st.ok() ? json_response(201, *answer) : error_response(503, st.message));
                          });
    if (!r) return respond(error_response(http_status_of(r.error().code), r.error().message));
    sagas::Json j = sagas::Json::object();
    j.set("id", sagas::Json(r->id.value()));
    j.set("existed", sagas::Json(r->existed));
    if (r->existed) return respond(json_response(200, j));
    *answer = std::move(j);
  }

  void compensate(const std::string& id, const HttpRequest& req, const std::function<void(HttpResponse)>& respond) {
    std::string reason;
    if (auto body = sagas::Json::parse(req.body.empty() ? "{}" : req.body); body && body->is_object()) {
      if (const sagas::Json* r = body->find("reason"); r && r->is_string()) reason = r->as_string();
    }
    saga::Status st = engine.compensate(saga::SagaId(id), reason);
    if (!st.ok()) return respond(error_response(http_status_of(st.code), st.message));
    sagas::Json j = sagas::Json::object();
    j.set("id", sagas::Json(id));
    j.set("state", sagas::Json("compensating"));
    respond(json_response(202, j));
  }

};

}  // namespace

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
  // Every configuration problem is reported here, before the state file, the broker or the
  // admin endpoint is touched.
  for (auto problem : {saga::check_brokers(c.kafka.brokers), saga::check_properties(c.kafka.properties),
                       c.admin.empty() ? std::nullopt : check_listen_address(c.admin)}) {
    if (problem) {
      err << "run: " << *problem << "\n";
      return kExitError;
    }
  }
  auto token = admin_token(c);
  if (!token) {
    err << "run: " << token.error() << "\n";
    return kExitError;
  }
  if (!c.admin.empty() && token->value.empty() && !is_loopback(c.admin)) {
    err << "run: the admin endpoint " << c.admin << " would accept saga control from the network without "
        << "credentials; set a token (admin.token or admin.token_file in the config, SAGACTL_ADMIN_TOKEN, or "
        << "--admin-token-file), or listen on 127.0.0.1\n";
    return kExitError;
  }
  auto store = state::SqliteStore::open({c.state, c.synchronous_full, false});
  if (!store) {
    err << "run: " << store.error().message << "\n";
    return kExitError;
  }

  bool embedded = c.kafka.brokers == "embedded";
  std::unique_ptr<saga::DevBroker> broker;
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
  saga::Engine engine(io, **store, **transport, clock, eo);
  for (const auto& d : loaded.definitions) engine.add(d);
  Admin admin{engine, **transport, metrics, token->value};
  engine.on_event([&](const saga::Event& e) { metrics.observe(e); });
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
  spdlog::info("running {} saga definition(s); state in {}", loaded.definitions.size(), c.state);

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
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: draining", sig);
    hangup.cancel();
    if (server) server->stop();
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
