#include "kafka/catch_up.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kafka/handles.h"

namespace kafka {

void CatchUp::request(Done done) {
  std::lock_guard lock(mu_);
  requested_.push_back(std::move(done));
}

void CatchUp::expect(std::vector<TopicPartition> partitions) {
  std::lock_guard lock(mu_);
  expected_count_ = partitions.size();
  expected_ = std::move(partitions);
}

std::vector<CatchUp::TopicPartition> CatchUp::expected() const {
  std::lock_guard lock(mu_);
  return expected_;
}

void CatchUp::delivered(const std::string& topic, std::int32_t partition, std::int64_t offset) {
  auto& next = next_[{topic, partition}];
  next = std::max(next, offset + 1);
}

void CatchUp::assignment_changed(const rd_kafka_topic_partition_list_t* revoked) {
  ready_ = false;
  readiness_due_ = true;
  measured_ = false;
  if (revoked == nullptr) return;
  for (int i = 0; i < revoked->cnt; ++i) next_.erase({revoked->elems[i].topic, revoked->elems[i].partition});
}

std::vector<CatchUp::Done> CatchUp::service() {
  if (reset_requested_.exchange(false)) assignment_changed(nullptr);
  if (!measured_) {
    {
      std::lock_guard lock(mu_);
      for (auto& d : requested_) measuring_.push_back(std::move(d));
      requested_.clear();
    }
    if (measuring_.empty() && !readiness_due_) return {};
    measuring_readiness_ = readiness_due_;
    if (!measure()) return {};  // not assigned, or the brokers did not answer: try again
    measured_ = true;
  }
  if (!passed()) return {};
  measured_ = false;
  if (measuring_readiness_) {
    readiness_due_ = false;
    if (!ready_) spdlog::debug("kafka: caught up with {} partition(s)", targets_.size());
    ready_ = true;
  }
  return std::exchange(measuring_, {});
}

bool CatchUp::measure() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (rd_kafka_assignment(consumer_, &raw) != RD_KAFKA_RESP_ERR_NO_ERROR || raw == nullptr) return false;
  ListPtr assigned(raw);
  if (!owns_expected(assigned.get()) || assigned->cnt == 0) return false;
  if (rd_kafka_committed(consumer_, assigned.get(), kQueryTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  std::map<TopicPartition, std::int64_t> targets;
  std::map<TopicPartition, std::int64_t> baseline;
  for (int i = 0; i < assigned->cnt; ++i) {
    const auto& p = assigned->elems[i];
    if (p.err != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
    std::int64_t low = 0;
    std::int64_t high = 0;
    if (rd_kafka_query_watermark_offsets(consumer_, p.topic, p.partition, &low, &high, kQueryTimeoutMs) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      return false;
    }
    targets[{p.topic, p.partition}] = high;
    baseline[{p.topic, p.partition}] = p.offset >= 0 ? p.offset : low;
  }
  targets_ = std::move(targets);
  baseline_ = std::move(baseline);
  return true;
}

bool CatchUp::owns_expected(const rd_kafka_topic_partition_list_t* assigned) {
  std::vector<TopicPartition> expected = this->expected();
  std::size_t missing = 0;
  for (const auto& [topic, partition] : expected) {
    if (rd_kafka_topic_partition_list_find(assigned, topic.c_str(), partition) == nullptr) ++missing;
  }
  owned_ = expected.size() - missing;
  if (missing == 0 || shared_) {
    told_missing_ = false;
    return true;
  }
  if (!told_missing_) {
    spdlog::info("kafka: {} of {} consumed partition(s) not assigned to this orchestrator yet (another member, "
                 "perhaps one that died, still holds them until its session times out); timers wait",
                 missing, expected.size());
    told_missing_ = true;
  }
  return false;
}

bool CatchUp::passed() const {
  ListPtr positions(rd_kafka_topic_partition_list_new(static_cast<int>(targets_.size())));
  for (const auto& [tp, high] : targets_) rd_kafka_topic_partition_list_add(positions.get(), tp.first.c_str(), tp.second);
  // The application position also moves past control records that are never handed over.
  rd_kafka_position(consumer_, positions.get());
  for (int i = 0; i < positions->cnt; ++i) {
    const auto& p = positions->elems[i];
    TopicPartition tp{p.topic, p.partition};
    std::int64_t at = baseline_.at(tp);
    if (p.err == RD_KAFKA_RESP_ERR_NO_ERROR && p.offset >= 0) at = std::max(at, p.offset);
    if (auto n = next_.find(tp); n != next_.end()) at = std::max(at, n->second);
    if (at < targets_.at(tp)) return false;
  }
  return true;
}

}  // namespace kafka
