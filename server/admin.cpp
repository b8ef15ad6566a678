#include "server/admin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <optional>

#include "sagas/json.h"

namespace server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// Accepting again after a failure (out of file descriptors): the first wait, doubled up to the
// longest.
constexpr auto kAcceptBackoffFirst = std::chrono::milliseconds(50);
constexpr auto kAcceptBackoffLongest = std::chrono::milliseconds(1'000);
// The longest a response takes to write, and a closing connection to drain what its client
// still sends (so the client reads the answer instead of a reset).
constexpr auto kWriteTimeout = std::chrono::seconds(30);
constexpr auto kLingerTimeout = std::chrono::seconds(2);
constexpr int kHttp10 = 10;
constexpr int kHttp11 = 11;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "host:port", "[v6]:port" → host and port text.
struct HostPort {
  std::string host;
  std::string port;
};
std::optional<HostPort> split_host_port(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    return HostPort{std::string(text.substr(1, close - 1)), std::string(rest.empty() ? rest : rest.substr(1))};
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return HostPort{std::string(text), ""};
  if (text.find(':', colon + 1) != std::string_view::npos) return std::nullopt;  // a v6 address needs brackets
  return HostPort{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1))};
}

sagas::Result<tcp::endpoint, std::string> parse_address(const std::string& address) {
  auto parts = split_host_port(address);
  if (!parts || parts->port.empty() || address.rfind(':') == std::string::npos) {
    return std::string("admin address \"" + address + "\" must be HOST:PORT, e.g. 127.0.0.1:7468 or [::1]:7468");
  }
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(parts->host == "localhost" ? "127.0.0.1" : parts->host, ec);
  if (ec) {
    return std::string("admin address \"" + address +
                       "\": the host must be an IP address (e.g. 127.0.0.1, 0.0.0.0, [::1] or [::])");
  }
  try {
    std::size_t used = 0;
    int port = std::stoi(parts->port, &used);
    if (used != parts->port.size() || port < 0 || port > 65535) throw std::out_of_range("port");
    return tcp::endpoint(ip, static_cast<unsigned short>(port));
  } catch (const std::exception&) {
    return std::string("admin address \"" + address + "\": the port must be a number from 0 to 65535");
  }
}

struct Refusal {
  http::status status;
  std::string message;
};

// The endpoint's own Host names: the bound IP (any IP literal when bound to all addresses, any
// loopback one when bound to loopback), localhost when loopback, and the configured names.
// Anything else is a name the browser resolved to us: DNS rebinding.
bool host_allowed(std::string_view header, const asio::ip::address& bound, const std::vector<std::string>& hosts) {
  auto hp = split_host_port(header);
  if (!hp || hp->host.empty()) return false;
  std::string host = lower(hp->host);
  if (std::find(hosts.begin(), hosts.end(), host) != hosts.end()) return true;
  if (host == "localhost") return bound.is_loopback() || bound.is_unspecified();
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(host, ec);
  if (ec) return false;
  return bound.is_unspecified() || ip == bound || (ip.is_loopback() && bound.is_loopback());
}

// The checks every request passes before a handler sees it (admin.h).
std::optional<Refusal> guard(const http::request<http::string_body>& req, const asio::ip::address& bound,
                             const std::vector<std::string>& hosts) {
  auto host = req[http::field::host];
  if (host.empty()) {
    return Refusal{http::status::bad_request, "the request has no Host header (HTTP/1.1 requires one)"};
  }
  if (!host_allowed(host, bound, hosts)) {
    return Refusal{http::status::misdirected_request,
                   "the Host header \"" + std::string(host) +
                       "\" does not name this endpoint: use its IP address, or add the name to admin.hosts"};
  }
  if (auto origin = req[http::field::origin]; !origin.empty()) {
    std::string o = lower(origin);
    std::string own = lower(host);
    if (o != "http://" + own && o != "https://" + own) {
      return Refusal{http::status::forbidden, "requests from the page of another origin (" + std::string(origin) +
                                                  ") are refused: only the console served here, sagactl and "
                                                  "clients that send no Origin may use this endpoint"};
    }
  }
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    std::string type = lower(req[http::field::content_type]);
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (type != "application/json") {
      return Refusal{http::status::unsupported_media_type,
                     "a " + std::string(req.method_string()) +
                         " request must send Content-Type: application/json (its body, if any, a JSON object)"};
    }
  }
  return std::nullopt;
}

struct Shared {
  Shared(HttpHandler h, AdminServerOptions o) : handler(std::move(h)), options(std::move(o)) {}
  HttpHandler handler;
  AdminServerOptions options;
  asio::ip::address bound;
  std::size_t connections = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<Shared> shared) : stream_(std::move(socket)), shared_(std::move(shared)) {
    ++shared_->connections;
  }
  ~Session() { --shared_->connections; }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() { read(); }

  // Answers 503 and closes: a connection over the limit.
  void refuse_busy() {
    refuse({http::status::service_unavailable,
            "the admin endpoint has " + std::to_string(shared_->options.max_connections) +
                " connections open, its limit: retry shortly"});
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(shared_->options.header_limit);
    stream_.expires_after(shared_->options.idle_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof) {
      return close();  // gone, idle or too slow: nothing to answer
    }
    if (ec) return refuse(refusal_of(ec));
    const auto& req = parser_->get();
    if (req.version() != kHttp10 && req.version() != kHttp11) {
      return refuse({http::status::http_version_not_supported, "this endpoint speaks HTTP/1.0 and HTTP/1.1"});
    }
    if (auto refused = guard(req, shared_->bound, shared_->options.hosts)) return refuse(std::move(*refused));
    keep_alive_ = req.keep_alive();
    stream_.expires_never();  // the handler takes its time (a start waits for its commit; events long-poll)
    HttpRequest r{std::string(req.method_string()), std::string(req.target()), req.body(),
                  std::string(req[http::field::authorization])};
    shared_->handler(r, [self = shared_from_this()](HttpResponse resp) { self->write(std::move(resp), false); });
  }

  Refusal refusal_of(beast::error_code ec) const {
    if (ec == http::error::body_limit) {
      return {http::status::payload_too_large,
              "the request body is over " + std::to_string(shared_->options.body_limit) + " bytes, this endpoint's limit"};
    }
    if (ec == http::error::header_limit) {
      // The request line did not end within the limit: the URL is too long; else the headers are.
      auto data = beast::buffers_to_string(buffer_.data());
      if (data.find("\r\n") == std::string::npos) {
        return {http::status::uri_too_long,
                "the request line is over " + std::to_string(shared_->options.header_limit) + " bytes"};
      }
      return {http::status::request_header_fields_too_large,
              "the request's headers are over " + std::to_string(shared_->options.header_limit) + " bytes"};
    }
    if (ec == http::error::bad_version) {
      return {http::status::http_version_not_supported, "this endpoint speaks HTTP/1.0 and HTTP/1.1"};
    }
    return {http::status::bad_request, "malformed HTTP request: " + ec.message()};
  }

  void refuse(Refusal refusal) {
    HttpResponse r;
    r.status = static_cast<int>(refusal.status);
    sagas::Json body = sagas::Json::object();
    body.set("error", sagas::Json(refusal.message));
    r.body = body.dump() + "\n";
    write(std::move(r), true);
  }

  void write(HttpResponse resp, bool close_after) {
    response_ = {};
    response_.result(static_cast<unsigned>(resp.status));
    response_.version(kHttp11);
    response_.set(http::field::server, "sagactl");
    response_.set(http::field::content_type, resp.content_type);
    response_.set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : resp.headers) response_.set(name, value);
    const bool again = keep_alive_ && !close_after;
    response_.keep_alive(again);
    response_.body() = std::move(resp.body);
    response_.prepare_payload();
    stream_.expires_after(kWriteTimeout);
    http::async_write(stream_, response_, [self = shared_from_this(), again](beast::error_code ec, std::size_t) {
      if (!ec && again) return self->read();  // the next request, perhaps already in the buffer
      self->linger();
    });
  }

  // Ends the response stream, then reads (and drops) what the client still sends until it
  // closes, so it reads the answer instead of a connection reset.
  void linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    buffer_.clear();
    linger_more();
  }
  void linger_more() {
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      if (ec) return self->close();
      self->buffer_.consume(n);
      self->linger_more();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  std::shared_ptr<Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  bool keep_alive_ = false;
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
  Impl(asio::io_context& io, HttpHandler h, AdminServerOptions o)
      : acceptor(io), retry(io), shared(std::make_shared<Shared>(std::move(h), std::move(o))) {}
  tcp::acceptor acceptor;
  asio::steady_timer retry;
  std::shared_ptr<Shared> shared;
  std::chrono::milliseconds backoff = kAcceptBackoffFirst;
  std::atomic<std::uint64_t> accept_failures{0};
  bool starved = false;  // accepting fails; said once until it works again

  // Accepts for as long as the acceptor is open, whatever accept fails with.
  void accept() {
    acceptor.async_accept([self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
      if (!self->acceptor.is_open()) return;  // stopped
      if (ec) return self->back_off(ec);
      if (self->starved) {
        spdlog::info("admin endpoint: accepting connections again");
        self->starved = false;
      }
      self->backoff = kAcceptBackoffFirst;
      auto session = std::make_shared<Session>(std::move(socket), self->shared);
      if (self->shared->connections > self->shared->options.max_connections) {
        session->refuse_busy();
      } else {
        session->start();
      }
      self->accept();
    });
  }

  void back_off(beast::error_code ec) {
    ++accept_failures;
    if (!starved) {
      spdlog::warn("admin endpoint: cannot accept a connection ({}; {} open here); retrying every {} ms at most until "
                   "it can (raise the file limit, ulimit -n, or lower admin.max_connections)",
                   ec.message(), shared->connections, kAcceptBackoffLongest.count());
      starved = true;
    }
    retry.expires_after(backoff);
    backoff = std::min(backoff * 2, kAcceptBackoffLongest);
    retry.async_wait([self = shared_from_this()](beast::error_code wait) {
      if (!wait && self->acceptor.is_open()) self->accept();
    });
  }
};

sagas::Result<std::unique_ptr<AdminServer>, std::string> AdminServer::start(asio::io_context& io,
                                                                          const std::string& address,
                                                                          HttpHandler handler,
                                                                          AdminServerOptions options) {
  auto ep = parse_address(address);
  if (!ep) return ep.error();
  for (auto& h : options.hosts) h = lower(h);
  auto impl = std::make_shared<Impl>(io, std::move(handler), std::move(options));
  beast::error_code ec;
  impl->acceptor.open(ep->protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(*ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return std::string("cannot listen on " + address + " for the admin endpoint: " + ec.message() +
                       " (is another sagactl run using it? set admin in the config or --admin)");
  }
  impl->shared->bound = ep->address();
  impl->accept();
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminServer::~AdminServer() { stop(); }

std::string AdminServer::address() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  if (ec) return {};
  std::string host = ep.address().to_string();
  return (ep.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(ep.port());
}

std::uint64_t AdminServer::accept_failures() const { return impl_->accept_failures.load(); }

void AdminServer::stop() {
  beast::error_code ec;
  impl_->acceptor.close(ec);
  impl_->retry.cancel();
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
  http::request<http::string_body> req{http::string_to_verb(method), target, kHttp11};
  req.set(http::field::host, address);
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(false);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req, ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> res;
  res.body_limit(boost::none);
  if (!ec) http::read(stream, buffer, res, ec);
  if (ec) return std::string("the orchestrator at " + address + " did not answer (" + ec.message() + ")");
  const auto& got = res.get();
  return HttpResponse{static_cast<int>(got.result_int()), std::string(got[http::field::content_type]), got.body(), {}};
}

}  // namespace server
