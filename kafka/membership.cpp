// KafkaTransport's membership: what the consumer reads (assigned partitions, or a group's
// share of them), the rebalances of group mode, the offsets it commits and the owner check
// that keeps two orchestrators off one reply topic.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <cstring>

#include "kafka/transport_impl.h"

namespace kafka {

void KafkaTransport::Impl::wait_for_first_assignment(std::chrono::steady_clock::time_point deadline) {
  if (!subscribed) return;
  std::unique_lock lock(assigned_mu);
  auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(kFirstAssignmentWaitMs));
  if (!assigned_cv.wait_until(lock, until, [&] { return assigned_once; })) {
    spdlog::warn("kafka: closing a consumer the group never gave partitions to (after {} ms)", kFirstAssignmentWaitMs);
  }
}

void KafkaTransport::Impl::add_commit(rd_kafka_topic_partition_list_t* list, const std::string& topic, std::int32_t partition,
                std::int64_t offset) const {
  auto* e = rd_kafka_topic_partition_list_add(list, topic.c_str(), partition);
  e->offset = offset;
  if (owner_metadata.empty()) return;
  e->metadata = std::malloc(owner_metadata.size());  // freed with the list
  if (e->metadata == nullptr) return;
  std::memcpy(e->metadata, owner_metadata.data(), owner_metadata.size());
  e->metadata_size = owner_metadata.size();
}

void KafkaTransport::Impl::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                         void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    spdlog::info("kafka: {} partition(s) assigned to this orchestrator", parts->cnt);
    {
      std::lock_guard lock(self->assigned_mu);
      self->assigned_once = true;
    }
    self->assigned_cv.notify_all();
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) {
        spdlog::error("kafka: cannot take the assigned partitions: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
    } else {
      rd_kafka_assign(rk, parts);
    }
    self->catch_up->assignment_changed(nullptr);
    self->group_barrier->assignment_changed();
    self->post_assignment(parts, true);
    return;
  }
  spdlog::info("kafka: {} partition(s) revoked ({})", parts->cnt, rd_kafka_err2name(err));
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) self->commit_acknowledged(rk, parts);
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
  } else {
    rd_kafka_assign(rk, nullptr);
  }
  self->catch_up->assignment_changed(parts);
  self->group_barrier->assignment_changed();
  std::vector<std::pair<std::string, std::int32_t>> gone;
  for (int i = 0; i < parts->cnt; ++i) gone.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
  boost::asio::post(self->io, [self, alive = self->alive, gone = std::move(gone)] {
    if (*alive) self->forget(gone);
  });
  self->post_assignment(parts, false);
}

void KafkaTransport::Impl::post_assignment(const rd_kafka_topic_partition_list_t* parts, bool assigned) {
  AssignmentChange change;
  auto& list = assigned ? change.assigned : change.revoked;
  for (int i = 0; i < parts->cnt; ++i) list.emplace_back(parts->elems[i].topic, parts->elems[i].partition);
  boost::asio::post(io, [this, alive = alive, change = std::move(change)] {
    if (*alive && !closed && on_assignment) on_assignment(change);
  });
}

void KafkaTransport::Impl::commit_acknowledged(rd_kafka_t* rk, const rd_kafka_topic_partition_list_t* parts) {
  kafka::ListPtr list(rd_kafka_topic_partition_list_new(parts->cnt));
  {
    std::lock_guard lock(acked_mu);
    for (int i = 0; i < parts->cnt; ++i) {
      auto it = acked_next.find({parts->elems[i].topic, parts->elems[i].partition});
      if (it != acked_next.end()) add_commit(list.get(), it->first.first, it->first.second, it->second);
    }
  }
  if (list->cnt == 0) return;
  if (auto e = rd_kafka_commit(rk, list.get(), 0)) {
    spdlog::warn("kafka: committing the revoked partitions' offsets failed (their next owner re-reads "
                 "from the last commit; replies already applied are recognised): {}",
                 rd_kafka_err2str(e));
  }
}

void KafkaTransport::Impl::forget(const std::vector<std::pair<std::string, std::int32_t>>& gone) {
  in_flight.forget(gone);
  std::lock_guard lock(acked_mu);
  for (const auto& tp : gone) acked_next.erase(tp);
}

sagas::Result<int, std::string> KafkaTransport::Impl::partitions_of(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  kafka::TopicPtr t(rd_kafka_topic_new(rk, topic.c_str(), nullptr));
  const struct rd_kafka_metadata* md = nullptr;
  rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, t.get(), &md, timeout_ms);
  if (err) return std::string("cannot read the metadata of topic \"" + topic + "\": " + rd_kafka_err2str(err));
  kafka::MetadataPtr owned(md);
  if (md->topic_cnt < 1) return std::string("no metadata for topic \"" + topic + "\"");
  if (md->topics[0].err) {
    return std::string("topic \"" + topic + "\": " + rd_kafka_err2str(md->topics[0].err) +
                       " (create it, or let the broker auto-create topics)");
  }
  return md->topics[0].partition_cnt;
}

std::optional<std::string> KafkaTransport::Impl::check_owner(const rd_kafka_topic_partition_list_t* wanted) {
  if (options.owner.empty()) return std::nullopt;
  kafka::ListPtr committed(rd_kafka_topic_partition_list_copy(wanted));
  if (auto err = rd_kafka_committed(consumer.get(), committed.get(), kOwnerCheckTimeoutMs)) {
    return std::string("cannot read the committed offsets of group \"") + options.group_id +
           "\": " + rd_kafka_err2str(err) + " (is the broker reachable?)";
  }
  const std::string prefix = kOwnerPrefix;
  for (int i = 0; i < committed->cnt; ++i) {
    const auto& p = committed->elems[i];
    if (p.metadata == nullptr || p.metadata_size <= prefix.size()) continue;
    std::string meta(static_cast<const char*>(p.metadata), p.metadata_size);
    if (meta.compare(0, prefix.size(), prefix) != 0) continue;
    std::string other = meta.substr(prefix.size());
    if (other == options.owner) continue;
    return "consumer group \"" + options.group_id + "\" already consumes " + p.topic + " for another " +
           "orchestrator (" + other + "); this one is " + options.owner + ". Two orchestrators with their " +
           "own state on one reply topic would take each other's replies. Stop the other one, or give this " +
           "one its own reply topics and kafka.group; if the other is gone for good (its state file moved " +
           "or deleted), start this one with a new kafka.group";
  }
  return std::nullopt;
}

std::optional<std::string> KafkaTransport::Impl::apply_subscription() {
  kafka::ListPtr all(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  std::vector<kafka::CatchUp::TopicPartition> expected;
  for (const auto& t : topics) {
    auto n = partitions_of(consumer.get(), t, kMetadataTimeoutMs);
    if (!n) return n.error();
    for (int p = 0; p < *n; ++p) {
      rd_kafka_topic_partition_list_add(all.get(), t.c_str(), p)->offset = RD_KAFKA_OFFSET_STORED;
      expected.emplace_back(t, p);
    }
  }
  if (auto refused = check_owner(all.get())) return refused;
  catch_up->expect(std::move(expected));
  if (options.consume == KafkaOptions::Consume::group) {
    kafka::ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
    for (const auto& t : topics) rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto err = rd_kafka_subscribe(consumer.get(), list.get())) {
      return std::string("cannot subscribe: ") + rd_kafka_err2str(err);
    }
    subscribed = true;
    return std::nullopt;
  }
  if (auto err = rd_kafka_assign(consumer.get(), all.get())) {
    return std::string("cannot assign partitions: ") + rd_kafka_err2str(err);
  }
  catch_up->assignment_changed_elsewhere();
  return std::nullopt;
}

}  // namespace kafka
