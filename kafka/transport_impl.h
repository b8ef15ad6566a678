// KafkaTransport::Impl: the transport's state, shared by its three parts: transport.cpp (the
// public calls, on the executor, and producing), client_threads.cpp (librdkafka's callbacks
// and the two poller threads) and membership.cpp (subscribing, the group's rebalances, the
// committed offsets and the owner check). Internal to kafka/: the only header besides
// handles.h that names librdkafka's types.
//
// Threading: each member says which thread touches it; what crosses threads is atomic or
// under its mutex, and what reaches the executor is posted to it, guarded by `alive`.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka/catch_up.h"
#include "kafka/group_barrier.h"
#include "kafka/handles.h"
#include "kafka/in_flight.h"
#include "kafka/transport.h"

namespace kafka {

// How long the pollers wait for work before looking at barriers and the stop flag again.
inline constexpr int kIdlePollMs = 100;
inline constexpr int kMetadataTimeoutMs = 10'000;
// The longest closing waits for a group's first assignment (a join: ~3 s on the mock cluster).
inline constexpr int kFirstAssignmentWaitMs = 10'000;
inline constexpr int kOwnerCheckTimeoutMs = 10'000;

struct KafkaTransport::Impl {
  Impl(boost::asio::io_context& io_, KafkaOptions options_) : io(io_), options(std::move(options_)) {}

  boost::asio::io_context& io;
  KafkaOptions options;
  kafka::HandlePtr producer;
  kafka::HandlePtr consumer;
  kafka::QueuePtr producer_queue;
  kafka::QueuePtr consumer_queue;
  std::thread producer_poller;
  std::thread consumer_poller;
  std::atomic<bool> stopping{false};
  // Checked by every handler posted to the executor: the transport may be gone by then.
  std::shared_ptr<std::atomic<bool>> alive = std::make_shared<std::atomic<bool>>(true);

  // Executor side.
  wire::Transport::ReceiveHandler on_receive;
  wire::Transport::DeliveryHandler on_delivery;
  std::function<void(const AssignmentChange&)> on_assignment;
  std::set<std::string> topics;
  // The messages handed to the engine and not yet acknowledged, and what each partition may commit.
  kafka::InFlightOffsets in_flight;
  std::vector<kafka::InFlightOffsets::Advance> advances;  // acknowledge()'s, kept for its capacity
  bool closed = false;

  std::atomic<bool> up{true};  // set by librdkafka's threads, read by the executor
  // When every broker went down (milliseconds since the epoch; 0 while any is up).
  std::atomic<std::int64_t> down_since_ms{0};
  // Topic handles of the warm topics: "locally known", so one metadata request covers them all.
  std::vector<kafka::TopicPtr> warm_handles;

  std::unique_ptr<kafka::CatchUp> catch_up;  // created with the consumer
  std::unique_ptr<kafka::GroupBarrier> group_barrier;  // likewise

  // Group mode: whether the group has ever given this consumer an assignment. librdkafka
  // 2.0 (Debian 12's) asserts when a cooperative-sticky consumer is destroyed before its
  // first one (librdkafka#4312, fixed in 2.3), so closing waits for it a while.
  std::mutex assigned_mu;
  std::condition_variable assigned_cv;
  bool assigned_once = false;  // guarded by assigned_mu
  bool subscribed = false;     // executor: rd_kafka_subscribe was called

  // The offset after the acknowledged prefix of each partition: written by acknowledge() on
  // the executor, read by the rebalance callback on the poller thread.
  std::mutex acked_mu;
  std::map<std::pair<std::string, std::int32_t>, std::int64_t> acked_next;

  // Every offset commit carries this metadata, so the group's offsets name the orchestrator
  // that consumes with them (see check_owner). Empty: no owner, no metadata.
  static constexpr const char* kOwnerPrefix = "sagactl owner=";
  const std::string owner_metadata = options.owner.empty() ? std::string() : kOwnerPrefix + options.owner;

  // Delivery reports run inside rd_kafka_poll: on the producer poller, or in flush().
  std::mutex reports_mu;
  std::vector<wire::Delivery> reports;

  // --- the executor's side (transport.cpp) ---

  // Gives each message its acknowledgement token and hands the batch to the engine.
  void deliver(std::vector<wire::Received> batch);
  struct ProduceError {
    std::string text;
    bool too_large = false;  // over message.max.bytes: never deliverable as it is
  };
  std::optional<ProduceError> produce(std::int64_t id, const wire::Message& m);

  // --- librdkafka's threads (client_threads.cpp) ---

  // Records whether any broker answers; a change is logged once, naming the brokers (the
  // clients' own connection failures are debug lines: they repeat for every retry).
  void mark_up(bool now_up);
  static void on_error(rd_kafka_t*, int err, const char* reason, void* opaque);
  static void on_report(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  static void on_log(const rd_kafka_t*, int level, const char* fac, const char* buf);
  // Hands the delivery reports gathered so far to the executor, in one post.
  void post_reports();
  void run_producer_poller();
  // Reads what is there (up to a batch), builds it as the engine takes it and posts it once.
  void run_consumer_poller();
  // Posted after the messages they cover, so the engine applies those first.
  void post_passed_barriers();
  void stop_pollers();

  // --- membership (membership.cpp) ---

  // Assigns every partition of `topics` (assign mode) or subscribes the group to them, after
  // the owner check.
  std::optional<std::string> apply_subscription();
  // Metadata of one topic on one handle: its partition count, or why not.
  sagas::Result<int, std::string> partitions_of(rd_kafka_t* rk, const std::string& topic, int timeout_ms);
  // Refuses to consume where another orchestrator commits: the group's committed offsets
  // carry the owner's name (add_commit). Our own earlier run has our name and passes.
  std::optional<std::string> check_owner(const rd_kafka_topic_partition_list_t* wanted);
  void add_commit(rd_kafka_topic_partition_list_t* list, const std::string& topic, std::int32_t partition,
                  std::int64_t offset) const;
  // Rebalance (group mode), on the poller thread inside rd_kafka_consumer_poll.
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque);
  // Tells the assignment handler, on the executor, in order with the messages.
  void post_assignment(const rd_kafka_topic_partition_list_t* parts, bool assigned);
  // Commits, synchronously, what the engine acknowledged on partitions about to be revoked,
  // so their next owner starts right after it.
  void commit_acknowledged(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts);
  // Executor: drops the bookkeeping of revoked partitions; later acknowledgements of their
  // messages are no-ops (the new owner re-reads what was not committed).
  void forget(const std::vector<std::pair<std::string, std::int32_t>>& gone);
  void wait_for_first_assignment(std::chrono::steady_clock::time_point deadline);
};

}  // namespace kafka
