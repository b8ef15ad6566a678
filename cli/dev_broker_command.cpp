// `sagactl dev-broker`: the development broker in the foreground, with the sagas' topics,
// until SIGINT or SIGTERM.
#include <signal.h>

#include "cli/commands.h"
#include "cli/loading.h"
#include "cli/stop_watchdog.h"
#include "kafka/dev_broker.h"

namespace cli {

int dev_broker_command(const DevBrokerOptions& options, std::ostream& out, std::ostream& err) {
  StopWatchdog watchdog;  // first: it outlives the broker whose stop it bounds
  std::vector<sagas::DefinitionPtr> defs;
  if (!options.sagas.empty()) {
    auto loaded = load_or_report(options.sagas, err);
    if (!loaded.ok()) {
      err << "dev-broker: fix the saga files above, or start without --sagas\n";
      return kExitError;
    }
    defs = loaded.definitions;
  }
  // Block the signals before the broker's threads start, so only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  auto broker = kafka::DevBroker::start(options.brokers, options.port);
  if (!broker) {
    err << "dev-broker: " << broker.error() << " (the port is dev-broker's --port)\n";
    return kExitError;
  }
  auto topics = topics_of(defs);
  if (!defs.empty()) topics.insert({"sagas.events", "sagas.start", "sagas.start.dlq"});
  if (auto e = create_topics(**broker, topics, options.partitions)) {
    err << "dev-broker: " << *e << "\n";
    return kExitError;
  }
  // Flushed, once the topics exist: scripts and tests wait for this line.
  out << "bootstrap: " << (*broker)->bootstrap() << std::endl;
  int sig = 0;
  sigwait(&stop, &sig);
  watchdog.arm(options.shutdown_timeout, "dev-broker");
  return kExitOk;
}

}  // namespace cli
