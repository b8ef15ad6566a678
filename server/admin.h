// The admin HTTP endpoint (Boost.Beast) of `sagactl run`, on the engine's io_context, so its
// handlers may call the engine directly. Loopback by default. HTTP/1.0 and 1.1, requests of
// one connection answered in order (keep-alive and pipelining).
//
// Routes are the caller's (run.cpp): the server parses, calls the handler, and writes back
// whatever the handler answers, whenever it answers (a start answers after its commit).
//
// What the server itself refuses, before any handler sees it (docs/sagactl.md, "Admin API"):
// a Host that is not the bound address, an IP literal, localhost or one of `hosts` (DNS
// rebinding: 421); an Origin that is not the endpoint's own (cross-site pages: 403); a
// request other than GET/HEAD whose body is not `application/json` (HTML forms: 415); a
// malformed request (400), a body over `body_limit` (413), a request line over
// `header_limit` (414), headers over it (431), an HTTP version other than 1.0/1.1 (505).
// Connections idle or slow for `idle_timeout` are closed; beyond `max_connections` a new one
// is answered 503 and closed. The accept loop outlives every accept error: out of file
// descriptors it logs once, backs off and resumes.
#pragma once

#include <chrono>
#include <cstdint>
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

namespace server {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query
  std::string body;
  std::string authorization;  // the Authorization header, empty when absent
};

struct AdminServerOptions {
  // Host names (without port) the Host header may carry besides IP literals and localhost:
  // the names a proxy or the operators reach the endpoint by (admin.hosts).
  std::vector<std::string> hosts;
  std::chrono::milliseconds idle_timeout{30'000};  // to read a request, or between requests
  std::size_t max_connections = 512;
  std::size_t body_limit = 1 << 20;  // a saga input of up to 1 MiB
  std::uint32_t header_limit = 8 * 1024;  // the request line and headers
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

// True for an address ("host:port", "[v6]:port") whose host is a loopback IP (127.0.0.0/8,
// ::1, localhost).
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
                                                                      const std::string& address, HttpHandler handler,
                                                                      AdminServerOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  std::string address() const;  // where it listens, the port resolved
  // Accepts that failed (out of file descriptors, ...) since start; any thread.
  std::uint64_t accept_failures() const;
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

}  // namespace server
