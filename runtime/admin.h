// The admin HTTP endpoint (Boost.Beast) of `sagactl run`, on the engine's io_context, so its
// handlers may call the engine directly. Loopback by default. One request per connection.
//
// Routes are the caller's (run.cpp): the server parses, calls the handler, and writes back
// whatever the handler answers, whenever it answers (a start answers after its commit).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sagas/result.h"

namespace boost::asio {
class io_context;
}

namespace runtime {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query
  std::string body;
  std::string authorization;  // the Authorization header, empty when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

// True for an address ("host:port") whose host is a loopback IP (127.0.0.0/8, ::1, localhost).
bool is_loopback(const std::string& address);

// Whether the admin endpoint could listen at `address` (well-formed, the port free): checked
// before anything starts, so a bad address is reported first. Empty when fine.
std::optional<std::string> check_listen_address(const std::string& address);

// Checks an Authorization header against the admin token in constant time (the comparison
// does not leak how much of the token matched).
bool bearer_matches(const std::string& authorization, const std::string& token);

using HttpHandler = std::function<void(const HttpRequest&, std::function<void(HttpResponse)> respond)>;

class AdminServer {
 public:
  // Listens on "host:port" (port 0: any free port). The error says what to do.
  static sagas::Result<std::unique_ptr<AdminServer>, std::string> start(boost::asio::io_context& io,
                                                                      const std::string& address, HttpHandler handler);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  std::string address() const;  // where it listens, the port resolved
  void stop();

 private:
  struct Impl;
  explicit AdminServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// A blocking HTTP/1.1 request to "host:port", for the CLI. The error says whether the
// orchestrator could not be reached or the connection broke.
// `token`, when set, is sent as `Authorization: Bearer TOKEN`.
sagas::Result<HttpResponse, std::string> http_request(const std::string& address, const std::string& method,
                                                      const std::string& target, const std::string& body = "",
                                                      int timeout_ms = 10'000, const std::string& token = "");

}  // namespace runtime
