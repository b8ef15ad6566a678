// The admin endpoint's HTTP server (server/admin.h) against hostile and careless clients: the
// requests a page of another site can make (an HTML form, a DNS-rebound name), malformed and
// oversized requests, idle connections, a connection storm and a process out of file
// descriptors. Raw sockets on loopback, the server on a thread of its own.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <mutex>
#include <sstream>
#include <thread>

#include "server/admin.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// An AdminServer answering every request that reaches its handler with 200 {"ok":true}.
class Server {
 public:
  explicit Server(server::AdminServerOptions options = {}, const std::string& address = "127.0.0.1:0") {
    auto s = server::AdminServer::start(
        io_, address,
        [this](const server::HttpRequest& req, const std::function<void(server::HttpResponse)>& respond) {
          ++handled_;
          respond({200, "application/json", "{\"ok\":true,\"target\":\"" + req.target + "\"}\n", {}});
        },
        std::move(options));
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
    server_ = std::move(s).value();
    address_ = server_->address();
    port_ = static_cast<unsigned short>(std::stoi(address_.substr(address_.rfind(':') + 1)));
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Server() {
    asio::post(io_, [this] { server_->stop(); });
    io_.stop();
    thread_.join();
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const std::string& address() const { return address_; }
  unsigned short port() const { return port_; }
  int handled() const { return handled_; }
  std::uint64_t accept_failures() const { return server_->accept_failures(); }

 private:
  asio::io_context io_;
  std::unique_ptr<server::AdminServer> server_;
  std::string address_;
  unsigned short port_ = 0;
  std::atomic<int> handled_{0};
  std::thread thread_;
};

// Sends `text` as it is and reads until the server closes (or `deadline`): the raw answer.
std::string exchange(unsigned short port, const std::string& text, std::chrono::milliseconds deadline = 5s) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval tv{static_cast<time_t>(deadline.count() / 1000), static_cast<suseconds_t>((deadline.count() % 1000) * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  asio::write(s, asio::buffer(text));
  std::string out;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(out), ec);
  return out;
}

std::string request(const std::string& method, const std::string& target, const std::string& headers,
                    const std::string& body = "") {
  return method + " " + target + " HTTP/1.1\r\n" + headers + "Content-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string host(const Server& s) { return "Host: " + s.address() + "\r\n"; }

TEST(AdminServer, AnHtmlFormPostIsRefusedBeforeAnyHandlerSeesIt) {
  Server server;
  // What `<form method=POST enctype=text/plain>` sends: a field name holding JSON.
  auto r = exchange(server.port(), request("POST", "/v1/sagas", host(server) + "Content-Type: text/plain\r\n",
                                           "{\"saga\":\"order\",\"input\":{},\"x\":\"=\"}"));
  EXPECT_EQ(status_of(r), 415) << r;
  EXPECT_NE(r.find("Content-Type: application/json"), std::string::npos) << r;
  auto urlencoded = exchange(server.port(), request("POST", "/v1/sagas/a/compensate",
                                                    host(server) + "Content-Type: application/x-www-form-urlencoded\r\n"));
  EXPECT_EQ(status_of(urlencoded), 415) << urlencoded;
  auto none = exchange(server.port(), request("POST", "/v1/sagas/a/compensate", host(server)));
  EXPECT_EQ(status_of(none), 415) << none;
  EXPECT_EQ(server.handled(), 0);
  auto json = exchange(server.port(),
                       request("POST", "/v1/sagas", host(server) + "Content-Type: application/json; charset=utf-8\r\n", "{}"));
  EXPECT_EQ(status_of(json), 200) << json;
  EXPECT_EQ(server.handled(), 1);
}

TEST(AdminServer, APageOfAnotherOriginIsRefusedAndTheEndpointsOwnIsNot) {
  Server server;
  const std::string json = "Content-Type: application/json\r\n";
  auto other = exchange(server.port(), request("POST", "/v1/sagas", host(server) + json + "Origin: https://evil.example\r\n", "{}"));
  EXPECT_EQ(status_of(other), 403) << other;
  auto null = exchange(server.port(), request("GET", "/v1/sagas", host(server) + "Origin: null\r\n"));
  EXPECT_EQ(status_of(null), 403) << null;
  EXPECT_EQ(server.handled(), 0);
  auto own = exchange(server.port(),
                      request("POST", "/v1/sagas", host(server) + json + "Origin: http://" + server.address() + "\r\n", "{}"));
  EXPECT_EQ(status_of(own), 200) << own;
}

TEST(AdminServer, AHostHeaderThatDoesNotNameTheEndpointIsRefused) {
  server::AdminServerOptions options;
  options.hosts = {"Sagactl.Internal"};
  Server server(options);
  std::string port = std::to_string(server.port());
  // DNS rebinding: the attacker's name now resolves to 127.0.0.1, and its page is same-origin.
  auto rebound = exchange(server.port(), request("GET", "/v1/sagas", "Host: attacker.example:" + port + "\r\n"));
  EXPECT_EQ(status_of(rebound), 421) << rebound;
  EXPECT_NE(rebound.find("admin.hosts"), std::string::npos) << rebound;
  auto missing = exchange(server.port(), "GET /v1/sagas HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(missing), 400) << missing;
  auto other_ip = exchange(server.port(), request("GET", "/healthz", "Host: 10.1.2.3:" + port + "\r\n"));
  EXPECT_EQ(status_of(other_ip), 421) << other_ip;
  EXPECT_EQ(server.handled(), 0);
  for (std::string name : {"127.0.0.1:" + port, "localhost:" + port, std::string("LOCALHOST"), "sagactl.internal:" + port}) {
    auto ok = exchange(server.port(), request("GET", "/healthz", "Host: " + name + "\r\n"));
    EXPECT_EQ(status_of(ok), 200) << name << ": " << ok;
  }
}

TEST(AdminServer, OversizedAndMalformedRequestsGetTheirStatusNotAReset) {
  server::AdminServerOptions options;
  options.body_limit = 64 * 1024;
  Server server(options);
  const std::string json = "Content-Type: application/json\r\n";
  auto big = exchange(server.port(), request("POST", "/v1/sagas", host(server) + json, std::string(200 * 1024, 'x')));
  EXPECT_EQ(status_of(big), 413) << big.substr(0, 200);
  auto url = exchange(server.port(), request("GET", "/v1/sagas/" + std::string(9000, 'a'), host(server)));
  EXPECT_EQ(status_of(url), 414) << url.substr(0, 200);
  std::string many;
  for (int i = 0; i < 10'000; ++i) many += "X-" + std::to_string(i) + ": y\r\n";
  auto headers = exchange(server.port(), request("GET", "/healthz", host(server) + many));
  EXPECT_EQ(status_of(headers), 431) << headers.substr(0, 200);
  auto http2 = exchange(server.port(), "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  EXPECT_EQ(status_of(http2), 505) << http2;
  auto http09 = exchange(server.port(), "GET /healthz\r\n\r\n");
  EXPECT_TRUE(status_of(http09) == 505 || status_of(http09) == 400) << http09;
  auto garbage = exchange(server.port(), "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
  EXPECT_EQ(status_of(garbage), 400) << garbage;
  EXPECT_EQ(server.handled(), 0);
}

TEST(AdminServer, EveryResponseSaysNosniffAndPipelinedRequestsAreEachAnswered) {
  Server server;
  std::string two = "GET /first HTTP/1.1\r\n" + host(server) + "\r\nGET /second HTTP/1.1\r\n" + host(server) +
                    "Connection: close\r\n\r\n";
  auto r = exchange(server.port(), two);
  EXPECT_NE(r.find("\"target\":\"/first\""), std::string::npos) << r;
  EXPECT_NE(r.find("\"target\":\"/second\""), std::string::npos) << r;
  std::size_t nosniff = 0;
  for (auto at = r.find("X-Content-Type-Options: nosniff"); at != std::string::npos;
       at = r.find("X-Content-Type-Options: nosniff", at + 1)) {
    ++nosniff;
  }
  EXPECT_EQ(nosniff, 2u) << r;
  auto refused = exchange(server.port(), request("GET", "/", "Host: evil.example\r\n"));
  EXPECT_NE(refused.find("X-Content-Type-Options: nosniff"), std::string::npos) << refused;
}

TEST(AdminServer, AnIdleConnectionIsClosedAfterTheIdleTimeout) {
  server::AdminServerOptions options;
  options.idle_timeout = 300ms;
  Server server(options);
  // Half a request, then nothing (slowloris): the server closes it, answering nothing.
  auto started = std::chrono::steady_clock::now();
  auto r = exchange(server.port(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", 10s);
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r, "");
  EXPECT_LT(took, 8s) << "closed by the server, not by the client's own deadline";
}

TEST(AdminServer, ConnectionsOverTheLimitAreAnswered503) {
  server::AdminServerOptions options;
  options.max_connections = 4;
  Server server(options);
  asio::io_context io;
  std::vector<tcp::socket> held;
  for (int i = 0; i < 4; ++i) {
    held.emplace_back(io);
    held.back().connect({asio::ip::make_address("127.0.0.1"), server.port()});
  }
  // The held ones are accepted (each then waits for its request) before the next is counted.
  std::string r;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (status_of(r) != 503 && std::chrono::steady_clock::now() < deadline) {
    r = exchange(server.port(), request("GET", "/healthz", host(server)));
  }
  EXPECT_EQ(status_of(r), 503) << r;
  EXPECT_NE(r.find("limit"), std::string::npos) << r;
  held.clear();
  deadline = std::chrono::steady_clock::now() + 10s;
  while (status_of(r) != 200 && std::chrono::steady_clock::now() < deadline) {
    r = exchange(server.port(), request("GET", "/healthz", host(server)));
  }
  EXPECT_EQ(status_of(r), 200) << "the closed ones no longer count: " << r;
}

// The limit of file descriptors is this process's: the clients' sockets use it up, the server
// cannot accept (EMFILE), the clients go, and the server accepts again.
TEST(AdminServer, RunningOutOfFileDescriptorsDoesNotEndTheAcceptLoop) {
#ifdef SAGACTL_SANITIZED
  // A sanitizer's runtime opens files of its own (/proc/self/maps, its symbolizer's pipes): out
  // of descriptors, it reports errors that are its own. The plain build runs this test.
  GTEST_SKIP() << "not under a sanitizer: it takes the process's file descriptors away";
#endif
  {
    Server server;
    rlimit saved{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
    int open_now = 0;
    for (int fd = 0; fd < 4096; ++fd) open_now += ::fcntl(fd, F_GETFD) != -1 ? 1 : 0;
    rlimit low = saved;
    low.rlim_cur = static_cast<rlim_t>(open_now + 32);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::vector<int> clients;
    auto connect_one = [&] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      if (fd < 0) return false;  // out of descriptors
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(server.port());
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        return false;
      }
      clients.push_back(fd);
      return true;
    };
    for (int i = 0; i < 200 && connect_one(); ++i) {
    }
    EXPECT_GE(clients.size(), 10u);
    // Every descriptor is taken (the server's accepted ones wait for requests). A connection
    // made with a client's descriptor waits in the backlog for one the server cannot get
    // (unless the server took the freed one first: then again).
    auto starved = [&] { return server.accept_failures() > 0; };
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!starved() && std::chrono::steady_clock::now() < deadline) {
      ::close(clients.back());
      clients.pop_back();
      connect_one();
      std::this_thread::sleep_for(5ms);
    }
    for (int fd : clients) ::close(fd);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
    EXPECT_TRUE(starved()) << "the server never ran out of descriptors: the test proves nothing";
    std::string r;
    deadline = std::chrono::steady_clock::now() + 10s;
    while (status_of(r) != 200 && std::chrono::steady_clock::now() < deadline) {
      r = exchange(server.port(), request("GET", "/healthz", host(server)));
    }
    EXPECT_EQ(status_of(r), 200) << r;
  }
}

TEST(AdminServer, AnIpv6AnyAddressIsAccepted) {
  EXPECT_EQ(server::check_listen_address("[::]:0"), std::nullopt);
  EXPECT_TRUE(server::is_loopback("[::1]:7468"));
  EXPECT_FALSE(server::check_listen_address("::1:7468") == std::nullopt) << "a v6 address needs brackets";
}

}  // namespace
