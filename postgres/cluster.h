// A cluster's state on PostgreSQL (docs/cluster.md). The sagas are split into a fixed number
// of shards by saga id; the count is chosen when the first orchestrator of the cluster starts
// and recorded in `sagactl_cluster` (it never changes: a saga's shard must not move). Each
// shard is a journal of its own (the PostgresStore's tables) in a schema of its own,
// `sagactl_shard_<n>`, owned by one orchestrator at a time and fenced by that journal's
// epoch. Reads that span the cluster (the CLI, every node's admin API) go through a view that
// asks every shard and merges the answers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sagas/result.h"
#include "postgres/store.h"
#include "state/store.h"

namespace postgres {

// At most this many shards (the reply topic's partitions): outbox ids of the shards' engines
// are told apart by it.
inline constexpr int kMaxShards = 1024;

// A saga's shard: CRC-32 of the id modulo the count, which is where librdkafka's default
// (consistent) partitioner puts a message keyed by the saga id, so replies of participants
// on librdkafka land on their shard's partition directly.
int shard_of(std::string_view saga_id, int shards);

// "sagactl_shard_<n>".
std::string shard_schema(int shard);

// What a cluster's first node recorded: the topic whose partitions are the shards, and how
// many there are.
struct ClusterShape {
  std::string topic;
  int shards = 0;
};

// The recorded shape; nullopt when no cluster has used the database.
state::Result<std::optional<ClusterShape>> cluster_shape(const std::string& url);

// Records `proposed` unless a shape is recorded already, and returns the recorded one.
// Refuses a database that holds a single orchestrator's state.
state::Result<ClusterShape> join_cluster(const std::string& url, const ClusterShape& proposed);

// Shard `shard`'s journal, owned by `owner` from now on: the previous owner is fenced.
sagas::Result<std::unique_ptr<PostgresStore>, state::Status> open_shard(const std::string& url, int shard,
                                                                const std::string& owner);

// Every shard's sagas, read-only: commit, load_active, undelivered and prune fail.
sagas::Result<std::unique_ptr<state::Store>, state::Status> open_cluster_view(const std::string& url, int shards);

}  // namespace postgres
