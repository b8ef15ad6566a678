// AdminApi: the admin endpoint's requests (docs/sagactl.md, "Admin API"): health and
// readiness probes and the console's static pages (always open: they hold no data), and
// behind the bearer token when one is set: metrics, the saga list and counts, a saga's
// status and its events (a long poll), start and compensate, the definitions and their
// graphs.
//
// Threading: everything on the engine's io_context, like the engine itself.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "server/admin.h"
#include "engine/node.h"
#include "server/graph_svg.h"
#include "kafka/transport.h"
#include "server/metrics.h"

namespace server {

// The API's answers: JSON bodies, errors as {"error": message}.
HttpResponse json_response(int status, const sagas::Json& body);
HttpResponse error_response(int status, const std::string& message);
int http_status_of(engine::Errc code);
std::optional<std::size_t> parse_count(const std::string& text);
std::string methods_of(const std::string& path);

class AdminApi {
 public:
  // The longest an events request waits for the saga's next transition.
  static constexpr std::size_t kMaxEventWaitMs = 60'000;
  // The longest it waits for a saga another cluster node works: its transitions are not told
  // here, so the answer comes after this and the client asks again.
  static constexpr std::size_t kElsewhereEventWaitMs = 1'000;

  AdminApi(boost::asio::io_context& io, engine::Node& node, kafka::KafkaTransport& transport, Metrics& metrics,
           std::string token);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  void handle(const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  // A transition was committed (the node's on_event): answers the events requests waiting for
  // its saga (from a handler posted to the io_context: safe to call from the engine's event
  // callback), including those that waited for a saga not started yet.
  void saga_changed(const engine::Event& event);

 private:
  struct Waiter {
    std::string id;
    std::size_t after = 0;
    std::function<void(HttpResponse)> respond;
    boost::asio::steady_timer timer;
  };

  // Answers with what `read` makes of the store: run off the loop (on the node's reader
  // thread, so it touches nothing of this object) once what is pending now is committed.
  void answer_from_store(std::function<HttpResponse(engine::StoreReads&)> read,
                         const std::function<void(HttpResponse)>& respond);
  // These run on the reader thread: the store and their arguments only.
  static HttpResponse list(const std::string& target, engine::StoreReads& reads);
  static HttpResponse counts(const std::string& target, engine::StoreReads& reads);
  static HttpResponse one_status(const std::string& id, engine::StoreReads& reads);
  // On the loop, with the counts read.
  HttpResponse definitions(const engine::Result<std::vector<state::StateCount>>& counted);
  HttpResponse graph(const std::string& name, const std::string& version);
  HttpResponse unauthorized(const HttpRequest& req);
  HttpResponse metrics();
  // /v1/sagas/ID[/ACTION]: answered (true), or not a route of one saga (false: 404 or 405).
  bool one_saga(const std::string& tail, const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  HttpResponse health();
  HttpResponse readiness();
  void start(const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  void compensate(const std::string& id, const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  void events(const std::string& id, const std::string& target, const std::function<void(HttpResponse)>& respond);
  // Reads the events page off the loop; then, on the loop, answers with it, or (when there is
  // nothing new yet and `wait_ms` > 0) waits for the saga's next transition.
  void read_events(const std::string& id, std::size_t after, std::size_t wait_ms,
                   const std::function<void(HttpResponse)>& respond);
  void wait_for_change(const std::string& id, std::size_t after, std::size_t wait_ms,
                       const std::function<void(HttpResponse)>& respond);
  struct EventsPage {
    HttpResponse response;
    // Nothing new yet, and the saga has not finished, or is not there yet (a start a cluster
    // node handed to its shard's owner arrives a moment later).
    bool worth_waiting = false;
  };
  static EventsPage events_page(const std::string& id, std::size_t after, engine::StoreReads& reads);

  boost::asio::io_context& io_;
  engine::Node& node_;  // the orchestrator served
  kafka::KafkaTransport& transport_;
  Metrics& metrics_;
  std::string token_;  // empty: no credentials asked (loopback only)
  std::vector<std::shared_ptr<Waiter>> waiters_;
  GraphRenderer graphs_;
};

}  // namespace server
