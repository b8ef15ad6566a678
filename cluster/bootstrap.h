// Joining a cluster: what a node opens beside its shard consumer before it works any shard.
// The cluster's shape (its shard topic and shard count) is recorded in the database by the
// first node and the same ever after; every later node checks the topic still matches it.
//
// Threading: called once, on the thread that then runs the node's io_context, before it runs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kafka/transport.h"
#include "postgres/cluster.h"
#include "sagas/definition.h"
#include "state/store.h"

namespace boost::asio {
class io_context;
}

namespace cluster {

// The routing consumers' group: the cluster's group and this.
inline constexpr const char* kRoutingGroupSuffix = ".routing";

struct JoinOptions {
  std::string url;                  // the cluster's PostgreSQL database
  std::string node;                 // this node's name, for logs
  std::string group;                // the cluster's consumer group (the shard consumer's)
  std::string routing_instance_id;  // group.instance.id of this node's routing consumer
};

// What a cluster node has beside the shard consumer: the routing consumer (start requests and
// the other reply topics, balanced in a group of their own and all sent on to the shard
// topic), the cluster's shape and the view over every shard.
struct Parts {
  std::unique_ptr<kafka::KafkaTransport> routing;
  postgres::ClusterShape shape;
  std::unique_ptr<state::Store> view;
};

// The cluster's shape: recorded by its first node (the first reply topic by name, and its
// partition count); a later node gets that shape back, and an error when the shard topic's
// partitions no longer equal the shards (a saga's shard never moves).
sagas::Result<postgres::ClusterShape, std::string> join(const std::string& url, kafka::KafkaTransport& shards,
                                                        const std::vector<sagas::DefinitionPtr>& defs);

// The routing consumer (on `kafka`'s settings, in the routing group), the shape and the view.
sagas::Result<Parts, std::string> open_parts(boost::asio::io_context& io, const JoinOptions& options,
                                             const kafka::KafkaOptions& kafka, kafka::KafkaTransport& shards,
                                             const std::vector<sagas::DefinitionPtr>& defs);

// The reply topics of the sagas, each once, by name.
std::vector<std::string> reply_topics_of(const std::vector<sagas::DefinitionPtr>& defs);

}  // namespace cluster
