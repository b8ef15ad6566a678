// A cluster node's routing: each message to the engine of its saga's shard, here or at the
// shard's owner (through the shard topic), and the forwarded messages' deliveries.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "cluster/node_impl.h"

namespace cluster {

namespace {

using wire::Delivery;
using wire::Message;
using wire::Received;

void drop_header(Message& m, std::string_view name) {
  std::erase_if(m.headers, [&](const auto& h) { return h.first == name; });
}

// A start handed on by another node, as its shard's engine takes it: a start by kind, on the
// shard topic, without the forwarding header.
void mark_start(Received& r) {
  drop_header(r.message, kForwardHeader);
  r.kind = wire::MessageKind::start;
}

}  // namespace

// The saga a message is about: its start request's id, or the saga-id header.
std::optional<std::string> ClusterNode::Impl::saga_of(const Message& m, bool is_start) const {
  if (is_start) {
    auto request = wire::parse_start(m);
    if (!request || !request->id) return std::nullopt;
    return request->id;
  }
  const std::string* id = m.header(wire::header::kSagaId);
  if (id == nullptr || id->empty()) return std::nullopt;
  return *id;
}

// An open shard of this node for what any of them may handle (a start without an id, a
// message with no saga to dead-letter); none: it waits for one.
ClusterNode::Impl::Shard* ClusterNode::Impl::any_open() {
  std::vector<Shard*> open;
  for (auto& [s, sh] : shards) {
    if (sh.open()) open.push_back(&sh);
  }
  if (open.empty()) return nullptr;
  return open[next_local++ % open.size()];
}

// What the shard topic brings: replies and requests for the shards of this node, and
// replies a participant put on another shard's partition.
void ClusterNode::Impl::route(std::vector<Received> batch) {
  std::map<int, std::vector<Received>> to_shards;
  for (auto& r : batch) {
    const std::string* header = r.message.header(kForwardHeader);
    const std::string fwd = header ? *header : std::string();
    bool is_start = fwd == kForwardStart;
    auto id = saga_of(r.message, is_start);
    if (!id) {
      // Names no saga: dead-lettered by any shard of this node.
      if (is_start) mark_start(r);
      if (Shard* sh = any_open()) {
        sh->transport->deliver({std::move(r)});
      } else {
        homeless.push_back(std::move(r));
      }
      continue;
    }
    int s = shard_of(*id);
    if (fwd.empty() && r.message.partition != s) ++misrouted_replies;
    if (!shards.contains(s)) {
      if (r.message.partition == s) continue;  // arrived as its partition left: its new owner reads it
      forward(std::move(r.message), s, false, transport, r.token);  // still marked as what it is
      continue;
    }
    if (fwd == kForwardCompensate) {
      compensate_forwarded(s, *id, r);
      continue;
    }
    if (is_start) mark_start(r);
    to_shards[s].push_back(std::move(r));
  }
  for (auto& [s, messages] : to_shards) {
    Shard& sh = shards[s];
    if (sh.open()) {
      sh.transport->deliver(std::move(messages));
    } else {
      std::move(messages.begin(), messages.end(), std::back_inserter(sh.held));
    }
  }
}

// What the routing consumer brings (start requests, replies on the other reply topics):
// each goes on to its saga's shard partition. A start without an id gets one here.
void ClusterNode::Impl::route_elsewhere(std::vector<Received> batch) {
  for (auto& r : batch) {
    bool is_start = r.message.topic == options.start_topic;
    auto id = saga_of(r.message, is_start);
    if (is_start && !id && wire::parse_start(r.message)) {
      // Named by its place in the start topic: if this node loses the partition before the
      // original is acknowledged, the next owner reads it again and forwards the same id.
      id = r.origin ? engine::start_id_from(r.message.topic, r.message.partition, *r.origin)
                    : engine::make_saga_id(rng, std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::system_clock::now().time_since_epoch())
                                                  .count());
      r.message.headers.emplace_back(wire::header::kSagaId, *id);
    }
    if (!is_start) ++misrouted_replies;
    // Names no saga: its dead letter comes from shard 0's owner.
    forward(std::move(r.message), id ? shard_of(*id) : 0, is_start, routing, r.token);
  }
}

// Sends `m` to shard `s`'s partition; the original is acknowledged once the broker has it.
void ClusterNode::Impl::forward(Message m, int s, bool is_start, kafka::KafkaTransport& via, std::optional<std::uint64_t> token) {
  if (is_start && !m.header(kForwardHeader)) m.headers.emplace_back(kForwardHeader, kForwardStart);
  m.topic = options.shard_topic;
  m.partition = s;
  std::int64_t id = next_forward++ * kIdSlots + kForwardSlot;
  spdlog::debug("forwarding a message for shard {} to its owner", s);
  via.send(id, m);
  forwards.emplace(id, Forward{std::move(m), &via, token});
}

void ClusterNode::Impl::compensate_forwarded(int s, const std::string& id, const Received& r) {
  Shard* sh = open_shard(s);
  if (sh == nullptr) {
    shards[s].held.push_back(r);
    return;
  }
  std::uint64_t token = r.token;
  auto ack = [this, token, life = std::weak_ptr<int>(life)](const engine::Status&) {
    if (!life.expired()) transport.acknowledge(std::span<const std::uint64_t>(&token, 1));
  };
  engine::Status st = sh->engine->compensate(engine::SagaId(id), r.message.value, ack);
  if (!st.ok()) {
    spdlog::warn("saga={} compensate request from another node not applied: {}", id, st.message);
    transport.acknowledge(std::span<const std::uint64_t>(&token, 1));
  }
}

void ClusterNode::Impl::delivered(std::vector<Delivery> batch, kafka::KafkaTransport& via) {
  std::map<int, std::vector<Delivery>> to_shards;
  for (auto& d : batch) {
    auto slot = static_cast<int>(d.outbox_id % kIdSlots);
    if (slot != kForwardSlot && &via == &transport) {
      to_shards[slot].push_back(std::move(d));
      continue;
    }
    auto it = forwards.find(d.outbox_id);
    if (it == forwards.end() || it->second.via != &via) continue;
    if (!d.error.empty()) {
      spdlog::warn("forwarding to partition {} of {} failed, retrying in {} ms: {}", it->second.message.partition,
                   options.shard_topic, options.reopen_delay_ms, d.error);
      resend_later(d.outbox_id);
      continue;
    }
    if (it->second.token) via.acknowledge(std::span<const std::uint64_t>(&*it->second.token, 1));
    forwards.erase(it);
  }
  for (auto& [s, deliveries] : to_shards) {
    if (Shard* sh = open_shard(s)) sh->transport->delivered(std::move(deliveries));
  }
}

void ClusterNode::Impl::resend_later(std::int64_t id) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io, std::chrono::milliseconds(options.reopen_delay_ms));
  timer->async_wait([this, id, timer, life = std::weak_ptr<int>(life)](const boost::system::error_code& ec) {
    if (ec || life.expired() || closed) return;
    if (auto it = forwards.find(id); it != forwards.end()) it->second.via->send(id, it->second.message);
  });
}

}  // namespace cluster
