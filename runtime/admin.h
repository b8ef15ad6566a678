// The admin HTTP endpoint (Boost.Beast) of `sagactl run`, on the engine's io_context, so its
// handlers may call the engine directly. Loopback by default. One request per connection.
//
// Routes are the caller's (run.cpp): the server parses, calls the handler, and writes back
// whatever the handler answers, whenever it answers (a start answers after its commit).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "sagas/result.h"

namespace boost::asio {
class io_context;
}

namespace runtime {

struct HttpRequest {
  std::string method;  // GET, POST, ...
  std::string target;  // path and query
  std::string body;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

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
sagas::Result<HttpResponse, std::string> http_request(const std::string& address, const std::string& method,
                                                      const std::string& target, const std::string& body = "",
                                                      int timeout_ms = 10'000);

}  // namespace runtime
