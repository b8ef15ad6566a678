// The order scenarios' participant over Kafka: one raw librdkafka consumer for every command
// topic and one producer, on a thread of its own, answering each command at once as
// docs/protocol.md says (same key, the reply headers, a JSON object) with what the saga's
// later steps use (reservationId, chargeId). The ceiling's kind of participant, so that the
// order saga's ratio to the ceiling measures what the orchestrator adds, not ten SDK
// clients; the SDK's participants have a scenario of their own (order-sdk).
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "bench/scenarios.h"

namespace bench {

class EchoParticipant {
 public:
  // Starts consuming at once; confirm-order is declined when `fail_at_confirm`.
  EchoParticipant(const std::string& brokers, const Settings& s, std::vector<std::string> topics, bool fail_at_confirm);
  ~EchoParticipant();  // stops, flushes what it produced, joins
  EchoParticipant(const EchoParticipant&) = delete;
  EchoParticipant& operator=(const EchoParticipant&) = delete;

 private:
  void run(std::string brokers, Settings s, std::vector<std::string> topics);

  const bool fail_at_confirm_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace bench
