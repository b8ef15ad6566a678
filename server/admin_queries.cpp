// The admin API's read-only views for `sagactl list` and the console: the saga list (filters,
// offset or keyset paging), counts per state, the loaded definitions and their graphs.
#include <boost/url/parse.hpp>
#include <map>

#include "engine/store_reads.h"
#include "server/admin_api.h"
#include "server/views.h"

namespace server {

namespace {

constexpr std::size_t kMaxLimit = 100000;

// A filter from the query string; the error answers the request as it is (400).
// `listing`: the list's own parameters (status, limit, offset, after) are allowed.
sagas::Result<state::ListFilter, HttpResponse> filter_from(const boost::urls::url_view& url, bool listing,
                                                          engine::StoreReads& reads) {
  state::ListFilter f;
  f.limit = state::kDefaultListLimit;
  auto bad = [](const std::string& message) { return error_response(400, message); };
  for (const auto& p : url.params()) {
    if (p.key.empty() && p.value.empty()) {
      continue;  // "?" alone, or "&&": nothing asked
    } else if (p.key == "saga") {
      f.saga = p.value;
    } else if (p.key == "id") {
      f.id_prefix = p.value;
    } else if (p.key == "version" || p.key == "from" || p.key == "until") {
      auto n = parse_count(p.value);
      if (!n) {
        return bad(p.key + "=" + p.value + " must be a whole number" +
                   (p.key == "version" ? "" : " (milliseconds since the epoch, UTC)"));
      }
      if (p.key == "version") f.version = static_cast<int>(*n);
      if (p.key == "from") f.created_from = static_cast<sagas::TimeMs>(*n);
      if (p.key == "until") f.created_until = static_cast<sagas::TimeMs>(*n);
    } else if (listing && p.key == "status") {
      f.state = sagas::saga_state_from(p.value);
      if (!f.state) {
        return bad("status=" + p.value + " is not a saga state; use running, completed, compensating, compensated or failed");
      }
    } else if (listing && (p.key == "limit" || p.key == "offset")) {
      auto n = parse_count(p.value);
      if (!n || (p.key == "limit" && (*n == 0 || *n > kMaxLimit))) {
        return bad(p.key + "=" + p.value + " must be a whole number" + (p.key == "limit" ? " from 1 to 100000" : ""));
      }
      (p.key == "limit" ? f.limit : f.offset) = *n;
    } else if (listing && p.key == "after") {
      // Keyset paging: the page after this saga, as fast on the thousandth page as on the first.
      auto s = reads.status(engine::SagaId(p.value));
      if (!s) {
        return error_response(s.error().code == engine::Errc::not_found ? 400 : http_status_of(s.error().code),
                              "after=" + p.value + ": " + s.error().message);
      }
      f.after = state::ListCursor{s->created_at, s->id.value()};
    } else {
      return bad("unknown parameter " + p.key + "; use " +
                 (listing ? "status, saga, version, id (a prefix), from, until, limit, offset and after"
                          : "saga, version, id (a prefix), from and until"));
    }
  }
  return f;
}

sagas::Json states_json(const std::map<sagas::SagaState, std::size_t>& counts) {
  sagas::Json j = sagas::Json::object();
  for (auto s : {sagas::SagaState::running, sagas::SagaState::completed, sagas::SagaState::compensating,
                 sagas::SagaState::compensated, sagas::SagaState::failed}) {
    auto it = counts.find(s);
    j.set(std::string(sagas::to_string(s)), sagas::Json(static_cast<std::int64_t>(it == counts.end() ? 0 : it->second)));
  }
  return j;
}

using StatesByDefinition = std::map<std::pair<std::string, int>, std::map<sagas::SagaState, std::size_t>>;

StatesByDefinition by_definition(const std::vector<state::StateCount>& counted) {
  StatesByDefinition out;
  for (const auto& c : counted) out[{c.saga, c.version}][c.state] += c.count;
  return out;
}

sagas::Json step_json(const sagas::Definition& def, const sagas::Step& s) {
  sagas::Json j = sagas::Json::object();
  j.set("name", sagas::Json(s.name));
  if (s.group) j.set("group", sagas::Json(def.group(*s.group).name));
  j.set("stage", sagas::Json(static_cast<std::int64_t>(s.stage)));
  j.set("topic", sagas::Json(s.execute.topic));
  j.set("command", sagas::Json(s.execute.command));
  j.set("compensation", s.compensation ? sagas::Json(s.compensation->command) : sagas::Json());
  j.set("pivot", sagas::Json(s.pivot));
  return j;
}

}  // namespace

// GET /v1/sagas: the same JSON as `sagactl list --json`, newest first.
HttpResponse AdminApi::list(const std::string& target, engine::StoreReads& reads) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return error_response(400, "the request target is not a valid URL: " + url.error().message());
  auto f = filter_from(*url, true, reads);
  if (!f) return f.error();
  auto listed = reads.list(*f);
  if (!listed) return error_response(http_status_of(listed.error().code), listed.error().message);
  return json_response(200, list_json(*listed));
}

// GET /v1/counts: how many sagas are in each state, in all and per definition version.
HttpResponse AdminApi::counts(const std::string& target, engine::StoreReads& reads) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return error_response(400, "the request target is not a valid URL: " + url.error().message());
  auto f = filter_from(*url, false, reads);
  if (!f) return f.error();
  auto counted = reads.count(*f);
  if (!counted) return error_response(http_status_of(counted.error().code), counted.error().message);
  std::map<sagas::SagaState, std::size_t> total;
  std::size_t all = 0;
  for (const auto& c : *counted) {
    total[c.state] += c.count;
    all += c.count;
  }
  sagas::Json j = sagas::Json::object();
  j.set("total", sagas::Json(static_cast<std::int64_t>(all)));
  j.set("states", states_json(total));
  sagas::Json defs = sagas::Json::array();
  for (const auto& [key, states] : by_definition(*counted)) {
    sagas::Json d = sagas::Json::object();
    d.set("saga", sagas::Json(key.first));
    d.set("version", sagas::Json(static_cast<std::int64_t>(key.second)));
    d.set("states", states_json(states));
    defs.as_array().push_back(std::move(d));
  }
  j.set("definitions", std::move(defs));
  return json_response(200, j);
}

// GET /v1/sagas/ID: the saga as committed.
HttpResponse AdminApi::one_status(const std::string& id, engine::StoreReads& reads) {
  auto s = reads.status(engine::SagaId(id));
  return s ? json_response(200, status_json(*s)) : error_response(http_status_of(s.error().code), s.error().message);
}

// GET /v1/definitions: every loaded saga version, its steps, and its sagas per state.
HttpResponse AdminApi::definitions(const engine::Result<std::vector<state::StateCount>>& counted) {
  if (!counted) return error_response(http_status_of(counted.error().code), counted.error().message);
  auto per_definition = by_definition(*counted);
  std::map<std::string, int> newest;
  auto loaded = node_.definitions();
  for (const auto& d : loaded) newest[d->name] = std::max(newest[d->name], d->version);
  sagas::Json out = sagas::Json::array();
  for (const auto& d : loaded) {
    sagas::Json j = sagas::Json::object();
    j.set("saga", sagas::Json(d->name));
    j.set("version", sagas::Json(static_cast<std::int64_t>(d->version)));
    j.set("current", sagas::Json(newest[d->name] == d->version));
    j.set("description", sagas::Json(d->description));
    j.set("compensation", sagas::Json(d->compensation_strategy == sagas::CompensationStrategy::parallel ? "parallel"
                                                                                                     : "sequential"));
    sagas::Json steps = sagas::Json::array();
    for (const auto& s : d->steps) steps.as_array().push_back(step_json(*d, s));
    j.set("steps", std::move(steps));
    j.set("states", states_json(per_definition[{d->name, d->version}]));
    out.as_array().push_back(std::move(j));
  }
  return json_response(200, out);
}

// GET /v1/definitions/NAME/VERSION/graph.svg: the graph, laid out by Graphviz.
HttpResponse AdminApi::graph(const std::string& name, const std::string& version) {
  auto v = parse_count(version);
  for (const auto& d : node_.definitions()) {
    if (d->name != name || !v || d->version != static_cast<int>(*v)) continue;
    auto svg = graphs_.svg(*d);
    if (!svg) return error_response(500, svg.error().message);
    HttpResponse r{200, "image/svg+xml", std::move(svg).value(), {}};
    r.headers.emplace_back("Cache-Control", "max-age=3600");  // a version never changes
    return r;
  }
  return error_response(404, "no saga definition " + name + " v" + version +
                                 " is loaded (GET /v1/definitions lists the loaded ones)");
}

}  // namespace server
