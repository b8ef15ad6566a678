// ShardTransport: one shard's engine's view of the cluster node's shared transport, and the
// outbox ids the shards share it by. Internal to cluster/.
//
// Threading: the node's io_context, like the engines it serves.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "kafka/transport.h"
#include "postgres/cluster.h"
#include "wire/protocol.h"
#include "wire/transport.h"

namespace cluster {

// Outbox ids on the shared transport: a shard engine's id times kIdSlots plus its shard;
// the node's own forwards use the last slot.
inline constexpr std::int64_t kIdSlots = postgres::kMaxShards + 1;
inline constexpr std::int64_t kForwardSlot = postgres::kMaxShards;

// One shard's engine's transport: the node's, shared with the other shards. It subscribes to
// nothing (the node consumes for all) and is handed what the node routes to its shard. A
// command whose replies come on the shard topic names the shard's partition in
// `reply-partition`, so participants that honour it reply straight to the owner.
class ShardTransport final : public wire::Transport {
 public:
  // `barrier`: the node's catch-up barrier for its shards (ClusterNode::Impl::catch_up).
  using Barrier = std::function<void(std::function<void()>)>;
  ShardTransport(kafka::KafkaTransport& shared, int shard, const std::string& shard_topic, Barrier barrier)
      : shared_(shared), shard_(shard), shard_topic_(shard_topic), barrier_(std::move(barrier)) {}

  std::optional<std::string> subscribe(const std::vector<std::string>&) override { return std::nullopt; }
  void set_handlers(ReceiveHandler on_receive, DeliveryHandler on_delivery) override {
    on_receive_ = std::move(on_receive);
    on_delivery_ = std::move(on_delivery);
  }
  void send(std::int64_t outbox_id, const wire::Message& message) override {
    const std::string* reply_to = message.header(wire::header::kReplyTo);
    if (reply_to == nullptr || *reply_to != shard_topic_) {
      shared_.send(outbox_id * kIdSlots + shard_, message);
      return;
    }
    wire::Message addressed = message;
    addressed.headers.emplace_back(wire::header::kReplyPartition, std::to_string(shard_));
    shared_.send(outbox_id * kIdSlots + shard_, addressed);
  }
  void publish(const wire::Message& message) override { shared_.publish(message); }
  void acknowledge(std::span<const std::uint64_t> tokens) override { shared_.acknowledge(tokens); }
  void catch_up(std::function<void()> done) override { barrier_(std::move(done)); }
  bool ready() const override { return shared_.ready(); }
  void close() override {
    on_receive_ = nullptr;
    on_delivery_ = nullptr;
  }

  void deliver(std::vector<wire::Received> batch) {
    if (on_receive_) on_receive_(std::move(batch));
  }
  void delivered(std::vector<wire::Delivery> batch) {
    for (auto& d : batch) d.outbox_id /= kIdSlots;
    if (on_delivery_) on_delivery_(std::move(batch));
  }

 private:
  kafka::KafkaTransport& shared_;
  int shard_;
  std::string shard_topic_;
  Barrier barrier_;
  ReceiveHandler on_receive_;
  DeliveryHandler on_delivery_;
};

}  // namespace cluster
