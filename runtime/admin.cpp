#include "runtime/admin.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace runtime {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

sagas::Result<tcp::endpoint, std::string> parse_address(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return std::string("admin address \"" + address + "\" must be HOST:PORT, e.g. 127.0.0.1:7468");
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.substr(0, colon) == "localhost" ? "127.0.0.1" : address.substr(0, colon), ec);
  if (ec) return std::string("admin address \"" + address + "\": the host must be an IP address (e.g. 127.0.0.1)");
  try {
    int port = std::stoi(address.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    return tcp::endpoint(ip, static_cast<unsigned short>(port));
  } catch (const std::exception&) {
    return std::string("admin address \"" + address + "\": the port must be a number from 0 to 65535");
  }
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpHandler& handler) : socket_(std::move(socket)), handler_(handler) {}

  void start() {
    request_.body_limit(1 << 20);  // a saga input of up to 1 MiB
    http::async_read(socket_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (!ec) self->dispatch();
    });
  }

 private:
  void dispatch() {
    const auto& req = request_.get();
    HttpRequest r{std::string(req.method_string()), std::string(req.target()), req.body(),
                  std::string(req[http::field::authorization])};
    handler_(r, [self = shared_from_this()](HttpResponse resp) { self->write(std::move(resp)); });
  }

  void write(HttpResponse resp) {
    response_.result(static_cast<unsigned>(resp.status));
    response_.version(11);
    response_.set(http::field::server, "sagactl");
    response_.set(http::field::content_type, resp.content_type);
    for (const auto& [name, value] : resp.headers) response_.set(name, value);
    response_.keep_alive(false);
    response_.body() = std::move(resp.body);
    response_.prepare_payload();
    http::async_write(socket_, response_, [self = shared_from_this()](beast::error_code, std::size_t) {
      beast::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  tcp::socket socket_;
  HttpHandler& handler_;
  beast::flat_buffer buffer_;
  http::request_parser<http::string_body> request_;
  http::response<http::string_body> response_;
};

}  // namespace

bool is_loopback(const std::string& address) {
  auto ep = parse_address(address);
  return ep && ep->address().is_loopback();
}

std::optional<std::string> check_listen_address(const std::string& address) {
  auto ep = parse_address(address);
  if (!ep) return ep.error();
  asio::io_context io;
  tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(ep->protocol(), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(*ep, ec);
  if (ec) return "the admin endpoint cannot listen on " + address + ": " + ec.message() + "; choose another admin address";
  return std::nullopt;
}

bool bearer_matches(const std::string& authorization, const std::string& token) {
  const std::string scheme = "Bearer ";
  if (token.empty() || authorization.size() != scheme.size() + token.size() ||
      authorization.compare(0, scheme.size(), scheme) != 0) {
    return false;
  }
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(authorization[scheme.size() + i] ^ token[i]);
  }
  return diff == 0;
}

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  Impl(asio::io_context& io, HttpHandler h) : acceptor(io), handler(std::move(h)) {}
  tcp::acceptor acceptor;
  HttpHandler handler;

  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed
      std::make_shared<Session>(std::move(socket), self->handler)->start();
      self->accept();
    });
  }
};

sagas::Result<std::unique_ptr<AdminServer>, std::string> AdminServer::start(asio::io_context& io,
                                                                          const std::string& address,
                                                                          HttpHandler handler) {
  auto ep = parse_address(address);
  if (!ep) return ep.error();
  auto impl = std::make_shared<Impl>(io, std::move(handler));
  beast::error_code ec;
  impl->acceptor.open(ep->protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(*ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return std::string("cannot listen on " + address + " for the admin endpoint: " + ec.message() +
                       " (is another sagactl run using it? set admin in the config or --admin)");
  }
  impl->accept();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { stop(); }

std::string AdminServer::address() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? std::string() : ep.address().to_string() + ":" + std::to_string(ep.port());
}

void AdminServer::stop() {
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

sagas::Result<HttpResponse, std::string> http_request(const std::string& address, const std::string& method,
                                                      const std::string& target, const std::string& body,
                                                      int timeout_ms, const std::string& token) {
  auto ep = parse_address(address);
  if (!ep) return ep.error();
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::milliseconds(timeout_ms));
  beast::error_code ec;
  stream.connect(*ep, ec);
  if (ec) {
    return std::string("cannot reach the orchestrator at " + address + " (" + ec.message() +
                       "): is `sagactl run` running with this config's admin address?");
  }
  http::request<http::string_body> req{method == "POST" ? http::verb::post : http::verb::get, target, 11};
  req.set(http::field::host, address);
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) return std::string("the orchestrator at " + address + " did not answer (" + ec.message() + ")");
  return HttpResponse{static_cast<int>(res.result_int()), std::string(res[http::field::content_type]), res.body(), {}};
}

}  // namespace runtime
