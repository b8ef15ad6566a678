// Reloader: `sagactl run`'s SIGHUP. The saga files are read again: new definitions (a new
// saga, a new version) are added; running sagas keep the definition they started with; a
// loaded name and version is never replaced (a changed file needs a new `version:` to take
// effect); a file with errors keeps the old set and says why.
//
// Threading: request() on the loop. The files are read and compiled on a thread of their own
// (a large or hostile file must not stall the event loop: probes, replies and timers go on);
// what they hold is swapped in on the loop. One reload at a time: a SIGHUP during one is
// taken once it ends.
#pragma once

#include <boost/asio/io_context.hpp>
#include <string>
#include <thread>

#include "cli/config.h"
#include "dsl/loader.h"
#include "engine/node.h"
#include "kafka/dev_broker.h"

namespace cli {

class Reloader {
 public:
  // `broker`: the embedded one, which gets the new sagas' topics; nullptr for real brokers.
  Reloader(const Config& c, boost::asio::io_context& io, engine::Node& node, kafka::DevBroker* broker)
      : c_(c), io_(io), node_(node), broker_(broker) {}
  ~Reloader();
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  void request();

 private:
  void apply(const dsl::LoadResult& loaded, const std::string& problems);

  const Config& c_;
  boost::asio::io_context& io_;
  engine::Node& node_;
  kafka::DevBroker* broker_;
  std::thread worker_;
  bool running_ = false;  // on the loop
  bool again_ = false;    // a SIGHUP came during the running reload
};

}  // namespace cli
