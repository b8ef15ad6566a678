// `sagactl start` and `sagactl compensate`: requests to a running orchestrator's admin API.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <ostream>
#include <sstream>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "server/admin.h"
#include "cli/commands.h"
#include "sagas/json.h"
#include "sagas/saga_id.h"

namespace cli {

namespace {

using sagas::Json;

constexpr int kRequestTimeoutMs = 10'000;
// How long one events request may wait for the saga's next transition.
constexpr std::int64_t kEventWaitMs = 20'000;

// The "error" of an API answer, or the body itself.
std::string error_of(const server::HttpResponse& r) {
  auto j = Json::parse(r.body);
  if (j && j->is_object()) {
    if (const Json* e = j->find("error"); e && e->is_string()) return e->as_string();
  }
  return "the orchestrator answered " + std::to_string(r.status) + ": " + r.body;
}

// `text` as one segment of a URL path (ids from before the id alphabet may hold '/', '?').
std::string path_segment(const std::string& text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string state_of(const Json& status) {
  const Json* s = status.find("state");
  return s && s->is_string() ? s->as_string() : "";
}

}  // namespace

namespace {

// The start's body: the saga, its input (--input as JSON, or @FILE) and its id, checked here
// (the input's JSON with its position, the id's alphabet); the error says what is wrong.
sagas::Result<Json, std::string> start_body(const StartCommandOptions& o) {
  std::string text = o.input;
  std::string source = "--input";
  if (!text.empty() && text[0] == '@') {
    source = text.substr(1);
    std::ifstream in(source);
    if (!in) return "cannot read the input file " + source;
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto input = Json::parse(text);
  if (!input) return source + " is not JSON: " + input.error().message;
  Json body = Json::object();
  body.set("saga", Json(o.saga));
  body.set("input", std::move(*input));
  if (!o.id.empty()) {
    if (auto bad = sagas::check_saga_id(o.id)) return *bad;
    body.set("id", Json(o.id));
  }
  return body;
}

// --wait: follows the saga's events (a long poll answered at each transition, and for a
// start handed to another cluster node, at its first), printing each on a terminal, until it
// ends or the timeout passes. Returns the exit code.
int follow(const StartCommandOptions& o, const std::string& id, bool forwarded, std::ostream& out, std::ostream& err) {
  auto until = std::chrono::steady_clock::now() + o.timeout;
  std::int64_t next = 0;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    auto wait_ms = std::clamp<std::int64_t>(left.count(), 0, kEventWaitMs);
    auto s = server::http_request(o.admin, "GET",
                                  "/v1/sagas/" + path_segment(id) + "/events?after=" + std::to_string(next) +
                                      "&wait=" + std::to_string(wait_ms),
                                  "", static_cast<int>(wait_ms) + kRequestTimeoutMs, o.token);
    if (!s) {
      err << "start: " << s.error() << "\n";
      return kExitError;
    }
    auto page = Json::parse(s->body);
    if (forwarded && s->status == 404 && left.count() > 0) {
      continue;  // the owner has not started it yet (the start is in the broker); the request waited for it
    }
    if (s->status != 200 || !page) {
      err << "start: " << error_of(*s) << "\n";
      return kExitError;
    }
    if (const Json* events = page->find("events"); o.tty && events && events->is_array()) {
      for (const auto& e : events->as_array()) {
        const Json* step = e.find("step");
        out << "  " << e.find("event")->as_string() << (step && step->is_string() ? "  " + step->as_string() : "")
            << std::endl;
      }
    }
    if (const Json* n = page->find("next"); n && n->is_number()) next = n->as_integer();
    std::string state = state_of(*page);
    if (state == "completed" || state == "compensated" || state == "failed") {
      out << state;
      if (const Json* e = page->find("error"); e && e->is_string()) out << ": " << e->as_string();
      out << std::endl;
      return state == "completed" ? kExitOk : state == "compensated" ? kExitCompensated : kExitFailed;
    }
    if (std::chrono::steady_clock::now() >= until) {
      err << "start: saga " << id << " is still " << state << " after "
          << std::chrono::duration_cast<std::chrono::seconds>(o.timeout).count() << "s; it goes on: sagactl status "
          << id << "\n";
      return kExitWaitTimeout;
    }
  }
}

}  // namespace

int start_command(const StartCommandOptions& o, std::ostream& out, std::ostream& err) {
  auto body = start_body(o);
  if (!body) {
    err << "start: " << body.error() << "\n";
    return kExitError;
  }
  auto r = server::http_request(o.admin, "POST", "/v1/sagas", body->dump(), kRequestTimeoutMs, o.token);
  if (!r) {
    err << "start: " << r.error() << "\n";
    return kExitError;
  }
  // 202: a cluster node handed the start to the node that owns the saga's shard.
  bool forwarded = r->status == 202;
  if (r->status != 200 && r->status != 201 && !forwarded) {
    err << "start: " << error_of(*r) << "\n";
    return kExitError;
  }
  auto answer = Json::parse(r->body);
  const Json* id = answer ? answer->find("id") : nullptr;
  if (!id || !id->is_string()) {
    err << "start: the orchestrator's answer has no id: " << r->body << "\n";
    return kExitError;
  }
  out << id->as_string() << std::endl;
  return o.wait ? follow(o, id->as_string(), forwarded, out, err) : kExitOk;
}

namespace {

// The id a compensate names: `id` itself when the orchestrator knows it (or cannot read its
// row: it then answers for it), else the one saga whose id starts with it, asked of the
// orchestrator's API. An error for an ambiguous prefix or an unreachable orchestrator.
struct SagaIdOf {
  std::string id;
};
sagas::Result<SagaIdOf, std::string> resolve_on_orchestrator(const CompensateCommandOptions& o) {
  constexpr std::size_t kShown = 5;  // ids named when a prefix is ambiguous
  auto exact = server::http_request(o.admin, "GET", "/v1/sagas/" + path_segment(o.id), "", kRequestTimeoutMs, o.token);
  if (!exact) return exact.error();
  if (exact->status != 404) return SagaIdOf{o.id};
  auto listed = server::http_request(o.admin, "GET",
                                     "/v1/sagas?id=" + path_segment(o.id) + "&limit=" + std::to_string(kShown + 1), "",
                                     kRequestTimeoutMs, o.token);
  if (!listed) return listed.error();
  auto rows = Json::parse(listed->body);
  if (listed->status != 200 || !rows || !rows->is_array()) return error_of(*listed);
  std::vector<std::string> ids;
  for (const Json& row : rows->as_array()) {
    if (const Json* id = row.find("id"); id && id->is_string()) ids.push_back(id->as_string());
  }
  if (ids.size() <= 1) return SagaIdOf{ids.empty() ? o.id : ids.front()};  // none: the orchestrator says so
  std::string names;
  for (std::size_t i = 0; i < std::min(ids.size(), kShown); ++i) names += (i ? ", " : "") + ids[i];
  return std::string("the id prefix \"") + o.id + "\" matches more than one saga (" + names + (ids.size() > kShown ? ", ..." : "") +
         "); give more of the id";
}

}  // namespace

int compensate_command(const CompensateCommandOptions& options, std::ostream& out, std::ostream& err) {
  auto id = resolve_on_orchestrator(options);
  if (!id) {
    err << "compensate: " << id.error() << "\n";
    return kExitError;
  }
  Json body = Json::object();
  body.set("reason", Json(options.reason));
  auto r = server::http_request(options.admin, "POST", "/v1/sagas/" + path_segment(id->id) + "/compensate", body.dump(),
                                kRequestTimeoutMs, options.token);
  if (!r) {
    err << "compensate: " << r.error() << "\n";
    return kExitError;
  }
  if (r->status != 202) {
    err << "compensate: " << error_of(*r) << "\n";
    return kExitError;
  }
  out << "compensating " << id->id << "\n";
  return kExitOk;
}

}  // namespace cli
