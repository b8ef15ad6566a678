// A TCP proxy in front of a PostgreSQL server that can lose an answer: armed, it closes both
// sides of a connection in place of passing on the server's next ReadyForQuery message, the
// one that ends a transaction's answer. The server has then committed, and the client has
// not heard so: the commit whose outcome is unknown.
//
// The server's side is read as protocol messages (a type byte and a length), so the client
// must ask for neither SSL nor GSS encryption (their one-byte answers carry no frame): give
// it `sslmode=disable&gssencmode=disable`. Each connection is piped by two threads of its
// own; the destructor closes everything and joins them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace testing_support {

class PgCuttingProxy {
 public:
  explicit PgCuttingProxy(int server_port) : server_port_(server_port) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = loopback(0);
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 8) != 0) {
      throw std::runtime_error("proxy: cannot listen on loopback");
    }
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accepting_ = std::thread([this] { accept_loop(); });
  }
  ~PgCuttingProxy() {
    ::shutdown(listener_, SHUT_RDWR);
    accepting_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& t : pipes_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listener_);
  }
  PgCuttingProxy(const PgCuttingProxy&) = delete;
  PgCuttingProxy& operator=(const PgCuttingProxy&) = delete;

  int port() const { return port_; }
  // The next ReadyForQuery is not passed on: its connection is closed instead.
  void cut_at_next_ready() { armed_ = true; }
  // How many answers were cut.
  int cuts() const { return cuts_; }

 private:
  static constexpr std::size_t kFrameHeader = 5;  // type byte, then a 4-byte length that counts itself
  static constexpr char kReadyForQuery = 'Z';

  static sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
  }

  static bool send_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<std::size_t>(w);
    }
    return true;
  }

  void accept_loop() {
    for (;;) {
      int client = ::accept(listener_, nullptr, nullptr);
      if (client < 0) return;
      int server = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a = loopback(server_port_);
      if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(server);
        ::close(client);
        continue;
      }
      std::lock_guard lock(mu_);
      fds_.push_back(client);
      fds_.push_back(server);
      pipes_.emplace_back([client, server] { to_server(client, server); });
      pipes_.emplace_back([this, client, server] { to_client(server, client); });
    }
  }

  static void to_server(int client, int server) {
    char buf[16384];
    for (ssize_t n; (n = ::recv(client, buf, sizeof buf, 0)) > 0;) {
      if (!send_all(server, buf, static_cast<std::size_t>(n))) break;
    }
    ::shutdown(server, SHUT_WR);
  }

  // Passes the server's messages on whole, but for the one it was armed to cut.
  void to_client(int server, int client) {
    std::vector<char> pending;
    char buf[16384];
    for (ssize_t n; (n = ::recv(server, buf, sizeof buf, 0)) > 0;) {
      pending.insert(pending.end(), buf, buf + n);
      std::size_t at = 0;
      while (pending.size() - at >= kFrameHeader) {
        std::uint32_t length = 0;
        std::memcpy(&length, pending.data() + at + 1, sizeof length);
        std::size_t frame = 1 + ntohl(length);
        if (pending.size() - at < frame) break;
        if (pending[at] == kReadyForQuery && armed_.exchange(false)) {
          ++cuts_;
          ::shutdown(client, SHUT_RDWR);
          ::shutdown(server, SHUT_RDWR);
          return;
        }
        if (!send_all(client, pending.data() + at, frame)) return;
        at += frame;
      }
      pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(at));
    }
    ::shutdown(client, SHUT_WR);
  }

  int server_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> armed_{false};
  std::atomic<int> cuts_{0};
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pipes_;
  std::thread accepting_;
};

}  // namespace testing_support
