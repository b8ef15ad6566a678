// ClusterNode::Impl: the state of a cluster node (its shards, the messages it forwards, its
// reads of every shard) and its two halves: shards.cpp (shards coming and going, the catch-up
// barrier) and routing.cpp (messages to their shard's owner). Internal to cluster/.
//
// Threading: the node's io_context; a shard's schema is opened on `opener` and the result
// posted back.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/cluster.h"
#include "cluster/shard_transport.h"
#include "engine/read_thread.h"
#include "postgres/store.h"

namespace cluster {

// Marks a message one node sent on to the owner of its saga's shard: what it asks.
inline constexpr std::string_view kForwardHeader = "sagactl-forward";
inline constexpr std::string_view kForwardStart = "start";
inline constexpr std::string_view kForwardCompensate = "compensate";

// Counters summed over shards (and those that left).
void add_stats(engine::EngineStats& to, const engine::EngineStats& s);

// A shard's store as the opener thread leaves it: connected, the previous owner fenced, and
// what its engine resumes from read.
struct OpenedShard {
  std::unique_ptr<postgres::PostgresStore> store;
  engine::Recovery recovery;
};
using ShardOpening = sagas::Result<OpenedShard, engine::Status>;

struct ClusterNode::Impl {
  // A shard this node was given. Members in this order: the engine goes before the store and
  // the transport it borrows.
  struct Shard {
    std::unique_ptr<postgres::PostgresStore> store;
    std::unique_ptr<ShardTransport> transport;
    std::unique_ptr<engine::SystemClock> clock;
    std::unique_ptr<engine::Engine> engine;
    std::vector<wire::Received> held;  // arrived before the engine opened
    std::unique_ptr<boost::asio::steady_timer> retry;
    std::uint64_t generation = 0;  // which take() an opening schema answers; a later one wins
    bool open() const { return engine != nullptr; }
  };

  // A message sent on to its shard's owner, and the token that acknowledges the original.
  struct Forward {
    wire::Message message;
    kafka::KafkaTransport* via = nullptr;  // sends it, and acknowledges the original
    std::optional<std::uint64_t> token;   // none: the node's own request (admin API)
  };

  Impl(boost::asio::io_context& io_, kafka::KafkaTransport& transport_, kafka::KafkaTransport& routing_,
       state::Store& view_, ClusterOptions o)
      : io(io_), transport(transport_), routing(routing_), view(view_), options(std::move(o)), rng(std::random_device{}()) {}

  boost::asio::io_context& io;
  kafka::KafkaTransport& transport;  // the shard topic, in the shards' group
  kafka::KafkaTransport& routing;    // the start topic and the other reply topics, in a group of their own
  state::Store& view;
  ClusterOptions options;
  std::vector<sagas::DefinitionPtr> defs;
  std::vector<std::function<void(const engine::Event&)>> subscribers;
  std::map<int, Shard> shards;      // assigned to this node
  std::vector<wire::Received> homeless;   // for any shard of this node, none open yet
  std::unordered_map<std::int64_t, Forward> forwards;  // by outbox id
  std::int64_t next_forward = 1;
  std::uint64_t misrouted_replies = 0;  // replies read away from their shard's partition
  std::size_t next_local = 0;       // round robin over open shards for starts without an id
  engine::EngineStats retired;        // of shards that left: counters never go back
  std::shared_ptr<int> life = std::make_shared<int>(0);
  bool closed = false;
  std::mt19937_64 rng;  // ids of starts that come without one
  std::vector<std::string> routed_replies;  // the reply topics other than the shard topic
  // The sagas of every shard, read through a reader handle on the view.
  engine::ReadThread reader{io, view};
  std::uint64_t next_generation = 1;
  // Last: destroyed first, so no schema is still being opened for a node that is gone.
  boost::asio::thread_pool opener{1};

  int shard_of(const std::string& id) const { return postgres::shard_of(id, options.shards); }

  Shard* open_shard(int s) {
    auto it = shards.find(s);
    return it != shards.end() && it->second.open() ? &it->second : nullptr;
  }

  // --- shards coming and going (shards.cpp) ---

  // A shard the group gave this node: its schema is opened and read for recovery off the
  // event loop (a connection, the fencing, the migrations, the unfinished sagas), then its
  // engine resumes from that here and is given what waited.
  void take(int s);
  void opened(int s, std::uint64_t generation, ShardOpening result);
  void retry_take(int s, const std::string& why);
  // The shard leaves: what is pending is committed (unless fenced), the engine closes.
  void drop(int s);
  void assignment(const kafka::AssignmentChange& change);
  // A shard's catch-up barrier: its timers fire only after every reply written before the
  // request has reached the shard's partition and been read.
  void catch_up(std::function<void()> done);

  // --- routing (routing.cpp) ---

  // The saga a message is about: its start request's id, or the saga-id header.
  std::optional<std::string> saga_of(const wire::Message& m, bool is_start) const;
  // An open shard of this node for what any of them may handle (a start without an id, a
  // message with no saga to dead-letter); none: it waits for one.
  Shard* any_open();
  // What the shard topic brings: replies and requests for the shards of this node, and
  // replies a participant put on another shard's partition.
  void route(std::vector<wire::Received> batch);
  // What the routing consumer brings (start requests, replies on the other reply topics):
  // each goes on to its saga's shard partition. A start without an id gets one here.
  void route_elsewhere(std::vector<wire::Received> batch);
  // Sends `m` to shard `s`'s partition; the original is acknowledged once the broker has it.
  void forward(wire::Message m, int s, bool is_start, kafka::KafkaTransport& via, std::optional<std::uint64_t> token);
  void compensate_forwarded(int s, const std::string& id, const wire::Received& r);
  void delivered(std::vector<wire::Delivery> batch, kafka::KafkaTransport& via);
  void resend_later(std::int64_t id);
};

}  // namespace cluster
