#include "server/admin_api.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/pct_string_view.hpp>
#include <charconv>

#include "engine/store_reads.h"
#include "server/console.h"
#include "server/views.h"
#include "sagas/saga_id.h"

namespace server {

HttpResponse json_response(int status, const sagas::Json& body) {
  return {status, "application/json", body.dump() + "\n", {}};
}

HttpResponse error_response(int status, const std::string& message) {
  sagas::Json j = sagas::Json::object();
  j.set("error", sagas::Json(message));
  return json_response(status, j);
}

int http_status_of(engine::Errc code) {
  switch (code) {
    case engine::Errc::invalid_input: return 400;
    case engine::Errc::unknown_saga:
    case engine::Errc::not_found: return 404;
    case engine::Errc::conflict: return 409;
    case engine::Errc::too_large: return 413;
    default: return 503;
  }
}

std::optional<std::size_t> parse_count(const std::string& text) {
  std::size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// The methods a route of the API takes ("GET", "POST", "GET, POST"); empty when `path` is no
// route: a request with another method is answered 405, one to no route 404.
std::string methods_of(const std::string& path) {
  static const std::vector<std::string> kGetOnly = {"/healthz", "/readyz", "/metrics", "/v1/counts", "/v1/definitions"};
  if (std::find(kGetOnly.begin(), kGetOnly.end(), path) != kGetOnly.end()) return "GET";
  if (path == "/v1/sagas") return "GET, POST";
  if (path.rfind("/v1/definitions/", 0) == 0 && ends_with(path, "/graph.svg")) return "GET";
  if (path.rfind("/v1/sagas/", 0) == 0) {
    if (ends_with(path, "/compensate")) return "POST";
    if (ends_with(path, "/events")) return "GET";
    if (path.find('/', std::string("/v1/sagas/").size()) == std::string::npos) return "GET";
  }
  if (path == "/" || console_page(path)) return "GET";
  return {};
}

AdminApi::AdminApi(boost::asio::io_context& io, engine::Node& node, kafka::KafkaTransport& transport, Metrics& metrics,
                   std::string token)
    : io_(io), node_(node), transport_(transport), metrics_(metrics), token_(std::move(token)) {}

AdminApi::~AdminApi() = default;

void AdminApi::handle(const HttpRequest& req, const std::function<void(HttpResponse)>& respond) {
  std::string path = req.target.substr(0, req.target.find('?'));
  // Probes stay open: orchestrators of containers call them without credentials.
  if (req.method == "GET" && path == "/healthz") return respond(health());
  if (req.method == "GET" && path == "/readyz") return respond(readiness());
  // So do the console's pages and assets: code, no data (its API calls carry the token).
  if (req.method == "GET") {
    if (auto page = console_page(path)) return respond(std::move(*page));
  }
  if (!token_.empty() && !bearer_matches(req.authorization, token_)) return respond(unauthorized(req));
  if (req.method == "GET" && path == "/metrics") return respond(metrics());
  // Reads answer once what is pending now is committed, read off the loop.
  if (req.method == "GET" && path == "/v1/counts") {
    return answer_from_store([target = req.target](engine::StoreReads& r) { return counts(target, r); }, respond);
  }
  if (req.method == "GET" && path == "/v1/definitions") {
    return node_.read_committed([this, respond](engine::StoreReads& r) -> engine::ReadThen {
      return [this, respond, counted = r.count({})] { respond(definitions(counted)); };
    });
  }
  const std::string defs_prefix = "/v1/definitions/";
  const std::string graph_suffix = "/graph.svg";
  if (req.method == "GET" && path.rfind(defs_prefix, 0) == 0 && path.size() > defs_prefix.size() + graph_suffix.size() &&
      path.compare(path.size() - graph_suffix.size(), graph_suffix.size(), graph_suffix) == 0) {
    std::string rest = path.substr(defs_prefix.size(), path.size() - defs_prefix.size() - graph_suffix.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos) return respond(graph(rest.substr(0, slash), rest.substr(slash + 1)));
  }
  const std::string prefix = "/v1/sagas";
  if (path == prefix && req.method == "POST") return start(req, respond);
  if (path == prefix && req.method == "GET") {
    return answer_from_store([target = req.target](engine::StoreReads& r) { return list(target, r); }, respond);
  }
  if (path.rfind(prefix + "/", 0) == 0 && one_saga(path.substr(prefix.size() + 1), req, respond)) return;
  if (std::string allow = methods_of(path); !allow.empty()) {
    HttpResponse r = error_response(405, req.method + " " + path + " is not allowed: use " + allow);
    r.headers.emplace_back("Allow", allow);
    return respond(std::move(r));
  }
  respond(error_response(404, "no such endpoint: " + req.method + " " + path +
                                  " (GET /healthz, GET /readyz, GET /metrics, GET|POST /v1/sagas, GET /v1/sagas/ID, "
                                  "GET /v1/sagas/ID/events, POST /v1/sagas/ID/compensate, GET /v1/counts, "
                                  "GET /v1/definitions, GET /v1/definitions/NAME/VERSION/graph.svg; the console at /)"));
}

void AdminApi::answer_from_store(std::function<HttpResponse(engine::StoreReads&)> read,
                                 const std::function<void(HttpResponse)>& respond) {
  node_.read_committed([read = std::move(read), respond](engine::StoreReads& r) -> engine::ReadThen {
    return [respond, answer = read(r)]() mutable { respond(std::move(answer)); };
  });
}

HttpResponse AdminApi::unauthorized(const HttpRequest& req) {
  HttpResponse r = error_response(401, req.authorization.empty()
                                           ? "this endpoint needs the admin token: send Authorization: Bearer "
                                             "TOKEN; sagactl sends the one its --admin-token-file, "
                                             "SAGACTL_ADMIN_TOKEN or admin.token_file names"
                                           : "the admin token does not match: give sagactl the orchestrator's "
                                             "(--admin-token-file, SAGACTL_ADMIN_TOKEN or admin.token_file)");
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"sagactl\"");
  return r;
}

HttpResponse AdminApi::metrics() {
  Metrics::Gauges g;
  g.active_sagas = node_.active_sagas();
  g.outbox_depth = node_.unconfirmed_sends();
  g.consumer_lag = transport_.consumer_lag();
  g.dead_letters = node_.stats().dead_letters;
  g.duplicate_replies = node_.stats().duplicates;
  g.broker_up = transport_.brokers_up();
  g.store_ok = node_.store_healthy();
  g.store_read_failures = node_.stats().read_failures;
  g.misrouted_replies = node_.misrouted_replies();
  g.ready = node_.ready();
  return {200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(g), {}};
}

bool AdminApi::one_saga(const std::string& tail, const HttpRequest& req,
                        const std::function<void(HttpResponse)>& respond) {
  std::string rest = tail;
  std::string action;  // "", "compensate" or "events"
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    action = rest.substr(slash + 1);
    rest.resize(slash);
  }
  // The id percent-decoded: ids from before the id alphabet may hold any character.
  auto encoded = boost::urls::make_pct_string_view(rest);
  if (!encoded) {
    respond(error_response(400, "the saga id in /v1/sagas/" + tail + " is not valid percent-encoding"));
    return true;
  }
  std::string id = encoded->decode();
  if (id.empty()) return false;
  if (req.method == "POST" && action == "compensate") {
    compensate(id, req, respond);
  } else if (req.method == "GET" && action == "events") {
    events(id, req.target, respond);
  } else if (req.method == "GET" && action.empty()) {
    answer_from_store([id](engine::StoreReads& r) { return one_status(id, r); }, respond);
  } else {
    return false;
  }
  return true;
}

HttpResponse AdminApi::health() {
  bool store = node_.store_healthy();
  bool broker = transport_.brokers_up();
  sagas::Json j = sagas::Json::object();
  j.set("status", sagas::Json(store && broker ? "ok" : "degraded"));
  j.set("store", sagas::Json(store ? "ok" : "failing"));
  j.set("broker", sagas::Json(broker ? "ok" : "down"));
  if (!store) j.set("store_problem", sagas::Json(node_.store_problem()));
  if (auto unreachable = transport_.brokers_unreachable()) j.set("broker_problem", sagas::Json(*unreachable));
  return json_response(store && broker ? 200 : 503, j);
}

// 200 once the consumer owns every partition it consumes and has applied what waited on them.
HttpResponse AdminApi::readiness() {
  bool consumer = node_.ready();
  bool store = node_.store_healthy();
  sagas::Json j = sagas::Json::object();
  j.set("status", sagas::Json(consumer && store ? "ready" : "not ready"));
  auto partitions = transport_.consumed_partitions();
  auto shards = node_.shards();
  if (shards) {
    sagas::Json::Array list;
    for (int s : *shards) list.emplace_back(s);
    j.set("shards", sagas::Json(std::move(list)));
  }
  auto unreachable = transport_.brokers_unreachable();
  if (!consumer && unreachable) {
    j.set("reason", sagas::Json(*unreachable + "; the reply consumer cannot catch up, so timers wait"));
  } else if (shards && !consumer) {
    j.set("reason", sagas::Json("this cluster node has no shard yet, or one of its shards is opening or catching up "
                                "with its partition (starting, rebalancing, or the brokers or the database are "
                                "unreachable); its timers wait"));
  } else if (!consumer && partitions.owned < partitions.of) {
    j.set("reason", sagas::Json("the reply consumer owns " + std::to_string(partitions.owned) + " of " +
                                std::to_string(partitions.of) +
                                " partitions of its reply and start topics (starting, rebalancing, or another group member, perhaps one "
                                "that died, holds the rest until its session times out); timers wait"));
  } else if (!consumer) {
    j.set("reason", sagas::Json("the reply consumer has not yet caught up with its partitions (starting, "
                                "rebalancing, or the brokers are unreachable)"));
  } else if (!store) {
    j.set("reason", sagas::Json("the state store cannot commit, so nothing is acknowledged: " + node_.store_problem()));
  }
  return json_response(consumer && store ? 200 : 503, j);
}

void AdminApi::start(const HttpRequest& req, const std::function<void(HttpResponse)>& respond) {
  auto body = sagas::Json::parse(req.body);
  if (!body || !body->is_object()) {
    return respond(error_response(400, "the request body must be a JSON object {\"saga\", \"input\", \"id\"}"));
  }
  const sagas::Json* name = body->find("saga");
  if (!name || !name->is_string()) return respond(error_response(400, "\"saga\" (the saga's name) is required"));
  const sagas::Json* input = body->find("input");
  engine::StartOptions opts;
  if (const sagas::Json* id = body->find("id"); id && !id->is_null()) {
    if (!id->is_string()) {
      return respond(error_response(400, "\"id\" must be a string (saga ids are " + std::string(sagas::kSagaIdRule) +
                                             "), or left out for a generated one"));
    }
    opts.id = id->as_string();
  }
  // The answer waits for the commit: a started saga is durable when the caller hears of it.
  auto answer = std::make_shared<sagas::Json>();  // null until the start is accepted
  auto r = node_.start(name->as_string(), input ? *input : sagas::Json::object(), opts,
                        [respond, answer](const engine::Status& st) {
                          if (answer->is_null()) return;  // an existing saga: answered below
                          respond(st.ok() ? json_response(201, *answer) : error_response(503, st.message));
                        });
  if (!r) return respond(error_response(http_status_of(r.error().code), r.error().message));
  sagas::Json j = sagas::Json::object();
  j.set("id", sagas::Json(r->id.value()));
  j.set("existed", sagas::Json(r->existed));
  if (r->existed) return respond(json_response(200, j));
  if (r->forwarded) {
    // A cluster node that does not own the saga's shard: its owner starts it, once.
    j.set("forwarded", sagas::Json(true));
    return respond(json_response(202, j));
  }
  *answer = std::move(j);
}

void AdminApi::compensate(const std::string& id, const HttpRequest& req,
                        const std::function<void(HttpResponse)>& respond) {
  std::string reason;
  if (auto body = sagas::Json::parse(req.body.empty() ? "{}" : req.body); body && body->is_object()) {
    if (const sagas::Json* r = body->find("reason"); r && r->is_string()) reason = r->as_string();
  }
  engine::Status st = node_.compensate(engine::SagaId(id), reason);
  if (!st.ok()) return respond(error_response(http_status_of(st.code), st.message));
  sagas::Json j = sagas::Json::object();
  j.set("id", sagas::Json(id));
  j.set("state", sagas::Json("compensating"));
  respond(json_response(202, j));
}

// GET /v1/sagas/ID/events?after=N&wait=MS: the saga's history from entry N on, with its
// state. When there is nothing past N and the saga is running (or not started yet), the
// answer waits (a long poll, at most `wait`, kMaxEventWaitMs) for its next transition: a
// client follows every transition, from the start on, without polling and without missing one.
void AdminApi::events(const std::string& id, const std::string& target, const std::function<void(HttpResponse)>& respond) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return respond(error_response(400, "the request target is not a valid URL: " + url.error().message()));
  std::size_t after = 0;
  std::size_t wait_ms = 0;
  for (const auto& p : url->params()) {
    auto n = parse_count(p.value);
    if ((p.key != "after" && p.key != "wait") || !n) {
      return respond(error_response(400, p.key + "=" + p.value + ": use after=N (entries already seen) and wait=MS"));
    }
    (p.key == "after" ? after : wait_ms) = *n;
  }
  read_events(id, after, wait_ms, respond);
}

void AdminApi::read_events(const std::string& id, std::size_t after, std::size_t wait_ms,
                           const std::function<void(HttpResponse)>& respond) {
  node_.read_committed([this, id, after, wait_ms, respond](engine::StoreReads& r) -> engine::ReadThen {
    return [this, id, after, wait_ms, respond, page = events_page(id, after, r)]() mutable {
      if (!page.worth_waiting || wait_ms == 0) return respond(std::move(page.response));
      wait_for_change(id, after, wait_ms, respond);
    };
  });
}

void AdminApi::wait_for_change(const std::string& id, std::size_t after, std::size_t wait_ms,
                               const std::function<void(HttpResponse)>& respond) {
  auto waiter = std::make_shared<Waiter>(Waiter{id, after, respond, boost::asio::steady_timer(io_)});
  std::size_t longest = node_.works(engine::SagaId(id)) ? kMaxEventWaitMs : kElsewhereEventWaitMs;
  waiter->timer.expires_after(std::chrono::milliseconds(std::min(wait_ms, longest)));
  waiter->timer.async_wait([this, w = std::weak_ptr<Waiter>(waiter)](const boost::system::error_code& ec) {
    auto waiting = w.lock();
    if (ec || !waiting) return;
    auto it = std::find(waiters_.begin(), waiters_.end(), waiting);
    if (it == waiters_.end()) return;  // answered by a transition already
    waiters_.erase(it);
    read_events(waiting->id, waiting->after, 0, waiting->respond);
  });
  waiters_.push_back(std::move(waiter));
}

void AdminApi::saga_changed(const engine::Event& event) {
  std::vector<std::shared_ptr<Waiter>> ready;
  std::erase_if(waiters_, [&](const std::shared_ptr<Waiter>& w) {
    if (w->id != event.saga_id.value()) return false;
    ready.push_back(w);
    return true;
  });
  // Read once what the saga did since is committed too (read_committed never calls back
  // inside the engine's event callback).
  for (auto& w : ready) {
    w->timer.cancel();
    read_events(w->id, w->after, 0, w->respond);
  }
}

// The saga's state and its history, as committed: the state is read first, so the history is
// at least as new (a page never says "finished" without the events that finished it).
AdminApi::EventsPage AdminApi::events_page(const std::string& id, std::size_t after, engine::StoreReads& reads) {
  auto status = reads.status(engine::SagaId(id));
  if (!status) {
    bool not_yet = status.error().code == engine::Errc::not_found;
    return {error_response(http_status_of(status.error().code), status.error().message), not_yet};
  }
  auto rows = reads.history(engine::SagaId(id));
  if (!rows) return {error_response(http_status_of(rows.error().code), rows.error().message), false};
  sagas::Json page = summary_json(*status);
  sagas::Json list = sagas::Json::array();
  for (std::size_t i = after; i < rows->size(); ++i) list.as_array().push_back(history_json((*rows)[i]));
  bool nothing_new = list.as_array().empty();
  page.set("events", std::move(list));
  page.set("next", sagas::Json(static_cast<std::int64_t>(std::max(after, rows->size()))));
  bool unfinished = status->state == sagas::SagaState::running || status->state == sagas::SagaState::compensating;
  return {json_response(200, page), nothing_new && unfinished};
}

}  // namespace server
