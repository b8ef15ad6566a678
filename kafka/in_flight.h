// InFlightOffsets: the consumed messages the Kafka transport has handed to the engine and
// the engine has not yet acknowledged, and what each partition may commit.
//
// A message read at (topic, partition, offset) gets a token; acknowledging tokens marks their
// messages done, and a partition's committable position advances past its oldest messages
// once all of them are done (Kafka commits a position, not messages: a message acknowledged
// before an older one waits for it). A message read again (a rebalance, a seek) finds its
// entry. forget() drops revoked partitions; their tokens acknowledge nothing afterwards.
//
// Costs: tokens are given in increasing order, so they index a deque from the oldest one
// still held, and each partition keeps its offsets in a deque: no allocation per message.
//
// Not thread-safe: the transport's executor thread owns it.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kafka {

class InFlightOffsets {
 public:
  using TopicPartition = std::pair<std::string, std::int32_t>;
  // A partition whose committable position moved: commit `next_offset` (its topic lives as
  // long as the partition is not forgotten).
  struct Advance {
    std::string_view topic;
    std::int32_t partition;
    std::int64_t next_offset;
  };

  // A message handed to the engine: its token (never 0).
  std::uint64_t received(const std::string& topic, std::int32_t partition, std::int64_t offset);

  // Marks the tokens' messages acknowledged (unknown and forgotten tokens are ignored) and
  // appends to `out` each partition whose committable position moved.
  void acknowledge(std::span<const std::uint64_t> tokens, std::vector<Advance>& out);

  // Drops the bookkeeping of revoked partitions.
  void forget(const std::vector<TopicPartition>& gone);

  // Messages held, over every partition: not yet acknowledged, or acknowledged behind an
  // older one that is not.
  std::size_t size() const;

 private:
  struct Entry {
    std::int64_t offset;
    bool acknowledged;
  };
  struct Partition {
    std::string topic;
    std::int32_t partition = 0;
    std::deque<Entry> entries;  // in offset order

    std::deque<Entry>::iterator at_or_after(std::int64_t offset);
    void add(std::int64_t offset);
  };
  struct TokenRef {
    Partition* partition;
    std::int64_t offset;
  };

  Partition& partition_of(const std::string& topic, std::int32_t partition);
  void trim_tokens();

  // Node-based: a token's Partition pointer stays valid until forget() drops both.
  std::map<TopicPartition, Partition> partitions_;
  Partition* last_partition_ = nullptr;  // where the previous message went (most go to the same)
  std::uint64_t first_token_ = 1;        // the token of tokens_.front()
  // An acknowledged or forgotten token leaves an empty slot until the slots before it are empty.
  std::deque<std::optional<TokenRef>> tokens_;
  std::vector<Partition*> touched_;  // acknowledge()'s scratch, kept for its capacity
};

}  // namespace kafka
