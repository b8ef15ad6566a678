// CatchUp: the consumer side of KafkaTransport::catch_up and of readiness (internal to the
// Kafka transport; includes librdkafka).
//
// A barrier requested at time T passes once every message that stood on the assigned
// partitions at T has been handed to the engine. It is measured by asking the brokers for
// each assigned partition's high watermark after the request (ListOffsets, not the cached
// value), then waiting until the consumer's position passes it. The position of a partition
// is the offset after the last message handed over, or, before any was, the group's
// committed offset (the engine commits only what it applied), or the partition's start.
// No assignment, a rebalance, or brokers that do not answer the watermark query keep the
// barrier waiting: nothing is declared caught up that was not read.
//
// One orchestrator owns every saga of its state file, and a participant may reply on any
// partition of a reply topic, so a barrier measures only while the consumer owns *every*
// partition of the topics it consumes (expect()): in group mode a member killed without leaving keeps its
// partitions until its session runs out, and a barrier over the rest would let timers fire
// for sagas whose replies wait, unread, on the partitions it still holds.
//
// Readiness is an internal barrier taken whenever the assignment changes: the transport is
// ready once it owns partitions and has passed the barrier taken when it got them.
//
// Threading: request(), ready() and assignment_changed_elsewhere() are safe from any
// thread; everything else runs on the consumer poller thread only.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kafka {

class CatchUp {
 public:
  using Done = std::function<void()>;
  using TopicPartition = std::pair<std::string, std::int32_t>;

  // How long one watermark or committed-offset query may wait for the brokers.
  static constexpr int kQueryTimeoutMs = 1'000;

  // `shared`: the partitions are shared among a cluster's members and the sagas split along
  // them (docs/cluster.md), so a barrier measures over the partitions this consumer has,
  // whatever others hold.
  CatchUp(rd_kafka_t* consumer, bool shared) : consumer_(consumer), shared_(shared) {}

  void request(Done done);
  bool ready() const { return ready_; }
  // The partitions of the consumed topics: no barrier passes, and readiness waits, until
  // all of them are assigned to this consumer. Safe from any thread.
  void expect(std::vector<TopicPartition> partitions);
  // The partitions given to expect(). Safe from any thread.
  std::vector<TopicPartition> expected() const;
  // Of the expected partitions, how many the consumer owned when it last measured; and how
  // many are expected. Safe from any thread.
  struct Owned {
    std::size_t owned = 0;
    std::size_t expected = 0;
  };
  Owned owned() const { return {owned_, expected_count_}; }

  // The message at `offset` was handed to the engine.
  void delivered(const std::string& topic, std::int32_t partition, std::int64_t offset);
  // Partitions were assigned or revoked: the measurement starts again, readiness is lost
  // until a new barrier passes, and revoked partitions forget their positions. Poller
  // thread (the rebalance callback runs there).
  void assignment_changed(const rd_kafka_topic_partition_list_t* revoked);
  // The same, from another thread (an assign() made on the executor): applied by the
  // poller thread at its next service().
  void assignment_changed_elsewhere() {
    ready_ = false;
    reset_requested_ = true;
  }
  // Measures or checks the outstanding barriers; returns the callbacks of those passed
  // (to be posted to the executor after the messages already posted).
  std::vector<Done> service();

 private:
  bool measure();
  bool owns_expected(const rd_kafka_topic_partition_list_t* assigned);
  bool passed() const;

  rd_kafka_t* consumer_;
  const bool shared_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> reset_requested_{false};
  std::atomic<std::size_t> owned_{0};
  std::atomic<std::size_t> expected_count_{0};

  mutable std::mutex mu_;
  std::vector<Done> requested_;  // guarded by mu_
  std::vector<TopicPartition> expected_;  // guarded by mu_

  // Poller thread only.
  bool readiness_due_ = true;         // an assignment has not yet been caught up with
  bool measured_ = false;             // targets_ hold the watermarks for measuring_
  bool measuring_readiness_ = false;  // the measurement includes the readiness barrier
  std::vector<Done> measuring_;
  std::map<TopicPartition, std::int64_t> targets_;   // high watermark to reach
  std::map<TopicPartition, std::int64_t> baseline_;  // committed offset (or start) at measuring
  std::map<TopicPartition, std::int64_t> next_;      // offset after the last message handed over
  bool told_missing_ = false;                        // the wait for missing partitions was logged
};

}  // namespace kafka
