#include "kafka/in_flight.h"

#include <algorithm>

namespace kafka {

std::deque<InFlightOffsets::Entry>::iterator InFlightOffsets::Partition::at_or_after(std::int64_t offset) {
  return std::lower_bound(entries.begin(), entries.end(), offset,
                          [](const Entry& e, std::int64_t o) { return e.offset < o; });
}

void InFlightOffsets::Partition::add(std::int64_t offset) {
  if (entries.empty() || entries.back().offset < offset) {
    entries.push_back({offset, false});
    return;
  }
  auto it = at_or_after(offset);
  if (it == entries.end() || it->offset != offset) entries.insert(it, {offset, false});
}

InFlightOffsets::Partition& InFlightOffsets::partition_of(const std::string& topic, std::int32_t partition) {
  if (last_partition_ != nullptr && last_partition_->partition == partition && last_partition_->topic == topic) {
    return *last_partition_;
  }
  TopicPartition key{topic, partition};
  auto it = partitions_.find(key);
  if (it == partitions_.end()) it = partitions_.emplace(key, Partition{topic, partition, {}}).first;
  last_partition_ = &it->second;
  return it->second;
}

std::uint64_t InFlightOffsets::received(const std::string& topic, std::int32_t partition, std::int64_t offset) {
  Partition& p = partition_of(topic, partition);
  p.add(offset);
  tokens_.emplace_back(TokenRef{&p, offset});
  return first_token_ + tokens_.size() - 1;
}

void InFlightOffsets::trim_tokens() {
  while (!tokens_.empty() && !tokens_.front()) {
    tokens_.pop_front();
    ++first_token_;
  }
}

void InFlightOffsets::acknowledge(std::span<const std::uint64_t> tokens, std::vector<Advance>& out) {
  touched_.clear();
  for (auto token : tokens) {
    if (token < first_token_ || token - first_token_ >= tokens_.size()) continue;
    auto ref = std::exchange(tokens_[token - first_token_], std::nullopt);
    if (!ref) continue;
    auto it = ref->partition->at_or_after(ref->offset);
    if (it != ref->partition->entries.end() && it->offset == ref->offset) it->acknowledged = true;
    if (std::find(touched_.begin(), touched_.end(), ref->partition) == touched_.end()) {
      touched_.push_back(ref->partition);
    }
  }
  trim_tokens();
  for (Partition* p : touched_) {
    std::optional<std::int64_t> last;
    while (!p->entries.empty() && p->entries.front().acknowledged) {
      last = p->entries.front().offset;
      p->entries.pop_front();
    }
    if (last) out.push_back({p->topic, p->partition, *last + 1});
  }
}

void InFlightOffsets::forget(const std::vector<TopicPartition>& gone) {
  std::vector<const Partition*> dropped;
  for (const auto& tp : gone) {
    if (auto it = partitions_.find(tp); it != partitions_.end()) dropped.push_back(&it->second);
  }
  if (dropped.empty()) return;
  for (auto& slot : tokens_) {
    if (slot && std::find(dropped.begin(), dropped.end(), slot->partition) != dropped.end()) slot.reset();
  }
  trim_tokens();
  last_partition_ = nullptr;
  for (const auto& tp : gone) partitions_.erase(tp);
}

std::size_t InFlightOffsets::size() const {
  std::size_t n = 0;
  for (const auto& [key, p] : partitions_) n += p.entries.size();
  return n;
}

}  // namespace kafka
