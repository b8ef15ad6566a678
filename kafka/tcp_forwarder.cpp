#include "kafka/tcp_forwarder.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <thread>

namespace kafka {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Kafka frames of a bootstrap conversation are small; this is one read's worth.
constexpr std::size_t kChunkBytes = 64 * 1024;

// One client connection and its twin to the target; lives while either direction pumps.
class Pipe : public std::enable_shared_from_this<Pipe> {
 public:
  Pipe(tcp::socket client, tcp::socket target) : client_(std::move(client)), target_(std::move(target)) {}

  void start() {
    pump(client_, target_, up_);
    pump(target_, client_, down_);
  }

 private:
  using Buffer = std::array<char, kChunkBytes>;

  void pump(tcp::socket& from, tcp::socket& to, Buffer& buf) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), &from, &to, &buf](auto ec, std::size_t n) {
      if (ec) return self->close();
      asio::async_write(to, asio::buffer(buf.data(), n), [self, &from, &to, &buf](auto write_ec, std::size_t) {
        if (write_ec) return self->close();
        self->pump(from, to, buf);
      });
    });
  }

  void close() {
    boost::system::error_code ignored;
    client_.close(ignored);
    target_.close(ignored);
  }

  tcp::socket client_;
  tcp::socket target_;
  Buffer up_{};
  Buffer down_{};
};

}  // namespace

struct TcpForwarder::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  tcp::resolver::results_type target;
  int port = 0;  // read once, before the thread starts: the acceptor is the thread's afterwards
  std::thread thread;

  void accept() {
    acceptor.async_accept([this](boost::system::error_code ec, tcp::socket client) {
      if (ec) return;  // closed
      auto upstream = std::make_shared<tcp::socket>(io);
      asio::async_connect(*upstream, target,
                          [upstream, client = std::make_shared<tcp::socket>(std::move(client))](auto connect_ec, const auto&) {
                            // A refused target closes the client: it sees a broker down and retries.
                            if (!connect_ec) std::make_shared<Pipe>(std::move(*client), std::move(*upstream))->start();
                          });
      accept();
    });
  }
};

sagas::Result<std::unique_ptr<TcpForwarder>, std::string> TcpForwarder::start(int port, const std::string& target) {
  auto impl = std::make_unique<Impl>();
  auto colon = target.rfind(':');
  if (colon == std::string::npos) return "the forwarding target \"" + target + "\" is not HOST:PORT";
  boost::system::error_code ec;
  impl->target = tcp::resolver(impl->io).resolve(target.substr(0, colon), target.substr(colon + 1), ec);
  if (ec) return "cannot resolve " + target + ": " + ec.message();
  tcp::endpoint at(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
  impl->acceptor.open(at.protocol(), ec);
  if (!ec) impl->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(at, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return "cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message() +
           (ec == asio::error::address_in_use ? " (another broker or program has it; choose another port, or 0 for any)"
                                              : "");
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->accept();
  impl->thread = std::thread([raw = impl.get()] { raw->io.run(); });
  return std::unique_ptr<TcpForwarder>(new TcpForwarder(std::move(impl)));
}

TcpForwarder::TcpForwarder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

TcpForwarder::~TcpForwarder() {
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int TcpForwarder::port() const { return impl_->port; }

}  // namespace kafka
