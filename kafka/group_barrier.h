// GroupBarrier: the consumer side of KafkaTransport::settle (internal to the Kafka transport;
// includes librdkafka). A cluster's extension of the catch-up barrier (kafka_catch_up.h) to
// messages that other members of the consumer group read.
//
// A barrier requested at time T over some topics passes once the group's committed offset of
// every partition of those topics has reached the high watermark the partition had after T
// (asked of the brokers, not cached). A member commits an offset only after it has handled
// every message before it: applied it, or sent it on to its shard's partition and seen the
// broker acknowledge the copy (docs/cluster.md). So when the barrier passes, every message
// written to those partitions before T has been handled by some member, wherever it went:
// a reply that a participant put on another shard's partition, or on another reply topic,
// is on its own shard's partition by then, where the owner's catch-up barrier reads it.
//
// With `skip_assigned`, the partitions this consumer holds when the barrier is measured are
// left out (the catch-up barrier covers them by position). A rebalance measures again.
// A partition whose member died keeps its committed offset until the group gives it to
// another member, which handles what waited there: the barrier waits for that, so a node's
// failover is never charged to a participant's timeout. Brokers that do not answer keep it
// waiting too.
//
// Known limit: a participant that writes replies in Kafka transactions leaves a commit marker
// after its last reply, and the member reading that partition commits the offset after the
// reply, not after the marker; a barrier over that partition waits until the member commits
// past it.
//
// Threading: request() is safe from any thread; assignment_changed() and
// service() run on the consumer poller thread only.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kafka/catch_up.h"

namespace kafka {

class GroupBarrier {
 public:
  using Done = std::function<void()>;
  using TopicPartition = std::pair<std::string, std::int32_t>;

  // How often the committed offsets are asked for while a barrier waits.
  static constexpr std::chrono::milliseconds kCheckInterval{20};
  // A barrier waiting longer than this is logged once, naming the partitions it waits for.
  static constexpr std::chrono::milliseconds kReportAfter{2'000};
  // How long one watermark or committed-offset query may wait for the brokers.
  static constexpr int kQueryTimeoutMs = 1'000;

  // A barrier's partitions are those of its topics among `consumed`'s expected ones (every
  // partition of the consumed topics).
  GroupBarrier(rd_kafka_t* consumer, std::string group, const CatchUp& consumed)
      : consumer_(consumer), group_(std::move(group)), consumed_(consumed) {}

  void request(std::vector<std::string> topics, bool skip_assigned, Done done);
  // The assignment changed: outstanding barriers measure again.
  void assignment_changed();
  // Measures or checks the outstanding barriers; returns the callbacks of those passed.
  std::vector<Done> service();

 private:
  struct Barrier {
    std::vector<std::string> topics;
    bool skip_assigned = false;
    std::vector<Done> done;
    bool measured = false;
    std::map<TopicPartition, std::int64_t> targets;  // high watermark the group's commit must reach
    std::chrono::steady_clock::time_point since;
    bool reported = false;
  };

  bool measure(Barrier& b);
  // The partitions of the barrier's targets whose committed offset is still below the target
  // ("topic/partition (committed N of M)"): empty when the barrier passed, none when the
  // brokers did not answer.
  std::optional<std::vector<std::string>> lagging(const Barrier& b);

  rd_kafka_t* consumer_;
  const std::string group_;
  const CatchUp& consumed_;

  std::mutex mu_;
  std::vector<Barrier> requested_;  // guarded by mu_
  // Set with requested_, so that the poller's idle service() costs one atomic load.
  std::atomic<bool> requested_any_{false};

  // Poller thread only.
  std::vector<Barrier> outstanding_;
  std::chrono::steady_clock::time_point next_check_{};
};

}  // namespace kafka
