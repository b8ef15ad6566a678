// AdminApi: the admin endpoint's requests (docs/sagactl.md, "Admin API"): health and
// readiness probes (always open), and behind the bearer token when one is set: metrics, the
// saga list, a saga's status and its events (a long poll), start and compensate.
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
#include "runtime/admin.h"
#include "runtime/kafka.h"
#include "runtime/metrics.h"

namespace runtime {

class AdminApi {
 public:
  // The longest an events request waits for the saga's next transition.
  static constexpr std::size_t kMaxEventWaitMs = 60'000;

  AdminApi(boost::asio::io_context& io, saga::Engine& engine, saga::KafkaTransport& transport, Metrics& metrics,
           std::string token);
  ~AdminApi();
  AdminApi(const AdminApi&) = delete;
  AdminApi& operator=(const AdminApi&) = delete;

  void handle(const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  // A transition of saga `id` was committed: answers the events requests waiting for it (from
  // a handler posted to the io_context: safe to call from the engine's event callback).
  void saga_changed(const std::string& id);

 private:
  struct Waiter {
    std::string id;
    std::size_t after = 0;
    std::function<void(HttpResponse)> respond;
    boost::asio::steady_timer timer;
  };

  HttpResponse list(const std::string& target);
  HttpResponse health();
  HttpResponse readiness();
  void start(const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  void compensate(const std::string& id, const HttpRequest& req, const std::function<void(HttpResponse)>& respond);
  void events(const std::string& id, const std::string& target, const std::function<void(HttpResponse)>& respond);
  struct EventsPage {
    HttpResponse response;
    bool worth_waiting = false;  // nothing new yet, and the saga has not finished
  };
  EventsPage events_page(const std::string& id, std::size_t after);

  boost::asio::io_context& io_;
  saga::Engine& engine_;
  saga::KafkaTransport& transport_;
  Metrics& metrics_;
  std::string token_;  // empty: no credentials asked (loopback only)
  std::vector<std::shared_ptr<Waiter>> waiters_;
};

}  // namespace runtime
