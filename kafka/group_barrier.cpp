#include "kafka/group_barrier.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kafka/handles.h"

namespace kafka {

void GroupBarrier::request(std::vector<std::string> topics, bool skip_assigned, Done done) {
  std::lock_guard lock(mu_);
  // Requests over the same partitions made before the next measurement share it.
  for (auto& b : requested_) {
    if (b.topics == topics && b.skip_assigned == skip_assigned) {
      b.done.push_back(std::move(done));
      return;
    }
  }
  Barrier b;
  b.topics = std::move(topics);
  b.skip_assigned = skip_assigned;
  b.done.push_back(std::move(done));
  b.since = std::chrono::steady_clock::now();
  requested_.push_back(std::move(b));
  requested_any_ = true;
}

void GroupBarrier::assignment_changed() {
  for (auto& b : outstanding_) b.measured = false;
}

std::vector<GroupBarrier::Done> GroupBarrier::service() {
  if (requested_any_.exchange(false)) {
    std::lock_guard lock(mu_);
    for (auto& b : requested_) outstanding_.push_back(std::move(b));
    requested_.clear();
  }
  if (outstanding_.empty()) return {};
  auto now = std::chrono::steady_clock::now();
  if (now < next_check_) return {};
  next_check_ = now + kCheckInterval;
  std::vector<Done> passed;
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    Barrier& b = *it;
    if (!b.measured && !measure(b)) {
      ++it;  // the brokers did not answer: try again at the next check
      continue;
    }
    auto behind = lagging(b);
    if (!behind) {
      ++it;  // the brokers did not answer: asked again at the next check
      continue;
    }
    if (behind->empty()) {
      for (auto& d : b.done) passed.push_back(std::move(d));
      it = outstanding_.erase(it);
      continue;
    }
    if (!b.reported && now - b.since >= kReportAfter) {
      std::string names;
      for (const auto& l : *behind) names += (names.empty() ? "" : ", ") + l;
      spdlog::info("kafka: timers wait until group \"{}\" has handled what stands on {} (a member that died holds "
                   "them until its session times out; then another reads them)",
                   group_, names);
      b.reported = true;
    }
    ++it;
  }
  return passed;
}

bool GroupBarrier::measure(Barrier& b) {
  std::vector<TopicPartition> partitions;
  for (const auto& tp : consumed_.expected()) {
    if (std::find(b.topics.begin(), b.topics.end(), tp.first) != b.topics.end()) partitions.push_back(tp);
  }
  ListPtr assigned;
  if (b.skip_assigned) {
    rd_kafka_topic_partition_list_t* raw = nullptr;
    if (rd_kafka_assignment(consumer_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || raw == nullptr) return false;
    assigned.reset(raw);
  }
  std::map<TopicPartition, std::int64_t> targets;
  for (const auto& [topic, partition] : partitions) {
    if (assigned && rd_kafka_topic_partition_list_find(assigned.get(), topic.c_str(), partition) != nullptr) continue;
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(consumer_, topic.c_str(), partition, &low, &high, kQueryTimeoutMs) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    if (high > low) targets[{topic, partition}] = high;  // an empty partition holds nothing to handle
  }
  b.targets = std::move(targets);
  b.measured = true;
  return true;
}

std::optional<std::vector<std::string>> GroupBarrier::lagging(const Barrier& b) {
  std::vector<std::string> out;
  if (b.targets.empty()) return out;
  ListPtr committed(rd_kafka_topic_partition_list_new(static_cast<int>(b.targets.size())));
  for (const auto& [tp, high] : b.targets) rd_kafka_topic_partition_list_add(committed.get(), tp.first.c_str(), tp.second);
  if (rd_kafka_committed(consumer_, committed.get(), kQueryTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  for (int i = 0; i < committed->cnt; ++i) {
    const auto& p = committed->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
    std::int64_t target = b.targets.at({p.topic, p.partition});
    if (p.offset < target) {
      out.push_back(std::string(p.topic) + "/" + std::to_string(p.partition) + " (committed " +
                        std::to_string(std::max<std::int64_t>(p.offset, 0)) + " of " + std::to_string(target) + ")");
    }
  }
  return out;
}

}  // namespace kafka
