// ClusterNode: one orchestrator of a cluster (docs/cluster.md). The sagas are split into
// shards by saga id (postgres/cluster.h); shard s is partition s of the cluster's shard topic
// (a reply topic, recorded at the cluster's first start). Every node consumes the reply and
// start topics in one consumer group (static
// membership, cooperative-sticky), and works exactly the shards whose partitions the group
// gives it: each one an Engine of its own over that shard's journal, opened when the
// partition comes (taking the shard's next epoch, which fences the previous owner) and
// closed when it goes.
//
// Messages are routed by the saga's shard:
//   - a reply on the shard topic for a shard of this node goes to its engine; one for another
//     shard is sent on to that shard's partition (where its owner reads it) and acknowledged
//     here once the broker has it: participants may use any partitioner, nothing is
//     dead-lettered for it;
//   - start requests and replies on the other reply topics are consumed by a second consumer
//     group (so that the shard topic's partitions are balanced on their own) and all sent on
//     the same way; a start without an id is given one first, so it starts once;
//   - a start (admin API) or compensate request for a saga of another shard goes to its owner.
// A message for a shard this node was given but has not opened yet (the database is
// unreachable) waits, unacknowledged, until it opens; one that arrived on its own shard's
// partition after that partition left is dropped unacknowledged: its new owner reads it.
// Commands whose replies come on the shard topic carry `reply-partition` (the shard's
// partition). Each shard's timers fire only after a barrier (Impl::catch_up): the group has
// handled what stands on the partitions other members hold and on the other reply topics
// (KafkaTransport::settle), then this node has read its own partitions (catch_up); so a
// reply sent in time is applied before its timeout, wherever it landed, and a takeover
// applies the replies that waited before it times anything out.
//
// Reads (statuses, lists, counts, histories) go to a view over every shard, on a reader thread.
//
// Threading: everything on the io_context's thread, like the engines.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/clock.h"
#include "engine/engine.h"
#include "kafka/transport.h"
#include "engine/node.h"
#include "state/store.h"

namespace cluster {

struct ClusterOptions {
  std::string url;          // the PostgreSQL state every node shares
  std::string node;         // this node's name: the journals' owner while it holds them
  std::string shard_topic;  // the reply topic whose partitions are the shards
  std::vector<std::string> reply_topics;  // every reply topic of the sagas (the shard topic is consumed too)
  std::string start_topic;  // consumed by every node (required: forwarded starts use its format)
  int shards = 0;           // the cluster's recorded count, = the reply topic's partitions
  engine::EngineOptions engine;    // each shard's engine (accept_id, on_fenced and start_topic are set here)
  engine::TimeMs reopen_delay_ms = 1'000;  // after a shard failed to open, or a forward failed to send
};

class ClusterNode final : public engine::Node {
 public:
  // Borrows the transports, both consuming in group mode: `shards` the shard topic, in the
  // group whose assignment decides the shards; `routing` the start topic and the other reply
  // topics, in a group of its own (so the shards are balanced on their own), whose messages
  // are all sent on to the shard topic. And the view over every shard.
  ClusterNode(boost::asio::io_context& io, kafka::KafkaTransport& shards, kafka::KafkaTransport& routing, state::Store& view,
              ClusterOptions options);
  ~ClusterNode() override;
  ClusterNode(const ClusterNode&) = delete;
  ClusterNode& operator=(const ClusterNode&) = delete;

  // A definition for every shard's engine, the open ones and those to come.
  void add(sagas::DefinitionPtr definition) override;
  void on_event(std::function<void(const engine::Event&)> subscriber) override;
  // Joins the consumer group; shards open as the group assigns their partitions.
  engine::Status open();
  // Closes every shard (committing what is pending) and the transport.
  void close() override;


  engine::Result<engine::NodeStart> start(const std::string& saga, sagas::Json input, engine::StartOptions options,
                                std::function<void(const engine::Status&)> on_committed) override;
  engine::Status compensate(const engine::SagaId& id, std::string reason) override;
  void read_committed(engine::ReadWork work) override;
  std::vector<sagas::DefinitionPtr> definitions() const override;
  engine::EngineStats stats() const override;
  std::size_t active_sagas() const override;
  std::size_t unconfirmed_sends() const override;
  bool store_healthy() const override;
  bool ready() const override;
  bool works(const engine::SagaId& id) const override;
  // The shards whose engines are open here.
  std::optional<std::vector<int>> shards() const override;
  std::uint64_t misrouted_replies() const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cluster
