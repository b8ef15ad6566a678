#include "cluster/bootstrap.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "postgres/store.h"

namespace cluster {

sagas::Result<postgres::ClusterShape, std::string> join(const std::string& url, kafka::KafkaTransport& shards,
                                                        const std::vector<sagas::DefinitionPtr>& defs) {
  // Recorded by the first node (atomically); later nodes get that shape back.
  postgres::ClusterShape proposed;
  proposed.topic = std::min_element(defs.begin(), defs.end(), [](const auto& a, const auto& b) {
                     return a->reply_topic < b->reply_topic;
                   })->get()->reply_topic;
  auto partitions = shards.partition_count(proposed.topic);
  if (!partitions) return partitions.error();
  proposed.shards = *partitions;
  auto joined = postgres::join_cluster(url, proposed);
  if (!joined) return joined.error().message;
  postgres::ClusterShape shape = *joined;
  if (shape.topic != proposed.topic) partitions = shards.partition_count(shape.topic);
  if (!partitions) return partitions.error();
  if (*partitions != shape.shards) {
    return "the cluster in " + postgres::redact(url) + " has " + std::to_string(shape.shards) +
           " shards, the partitions of " + shape.topic + " at its first start, but that topic has " +
           std::to_string(*partitions) + " partitions now; they must be equal: a saga's shard never moves";
  }
  return shape;
}

sagas::Result<Parts, std::string> open_parts(boost::asio::io_context& io, const JoinOptions& options,
                                             const kafka::KafkaOptions& kafka, kafka::KafkaTransport& shards,
                                             const std::vector<sagas::DefinitionPtr>& defs) {
  Parts parts;
  kafka::KafkaOptions ro = kafka;
  ro.group_id = options.group + kRoutingGroupSuffix;
  ro.instance_id = options.routing_instance_id;
  auto routing = kafka::KafkaTransport::create(io, ro);
  if (!routing) return routing.error();
  parts.routing = std::move(routing).value();
  auto shape = join(options.url, shards, defs);
  if (!shape) return shape.error();
  parts.shape = *shape;
  auto view = postgres::open_cluster_view(options.url, parts.shape.shards);
  if (!view) return view.error().message;
  parts.view = std::move(view).value();
  spdlog::info("cluster node {}: {} shard(s), the partitions of {}", options.node, parts.shape.shards,
               parts.shape.topic);
  return parts;
}

std::vector<std::string> reply_topics_of(const std::vector<sagas::DefinitionPtr>& defs) {
  std::set<std::string> topics;
  for (const auto& d : defs) topics.insert(d->reply_topic);
  return {topics.begin(), topics.end()};
}

}  // namespace cluster
