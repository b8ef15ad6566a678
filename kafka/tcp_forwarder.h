// TcpForwarder: listens on a loopback port and pipes every connection, both ways, to one
// target address. The development broker puts it in front of the mock cluster, whose own
// listeners take a new ephemeral port at every start: clients bootstrap through the
// forwarder's fixed port, and after a restart of the broker they find it there again (the
// metadata they get through it names the brokers' new ports).
//
// Threading: its own thread runs the connections; start() and the destructor from the owner.
#pragma once

#include <memory>
#include <string>

#include "sagas/result.h"

namespace kafka {

class TcpForwarder {
 public:
  // Listens on 127.0.0.1:port (0: any free port) and forwards to target ("HOST:PORT").
  static sagas::Result<std::unique_ptr<TcpForwarder>, std::string> start(int port, const std::string& target);
  ~TcpForwarder();  // closes the listener and every connection, joins the thread
  TcpForwarder(const TcpForwarder&) = delete;
  TcpForwarder& operator=(const TcpForwarder&) = delete;

  int port() const;

 private:
  struct Impl;
  explicit TcpForwarder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kafka
