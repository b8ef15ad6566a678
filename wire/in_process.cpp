#include "wire/in_process.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>

namespace wire {

namespace {
constexpr int kOffsetBits = 40;
std::uint64_t token_of(std::uint32_t topic, std::uint64_t offset) {
  return (static_cast<std::uint64_t>(topic) << kOffsetBits) | offset;
}
}  // namespace

std::uint32_t Bus::topic_id(const std::string& name) {
  auto [it, fresh] = topic_ids_.emplace(name, static_cast<std::uint32_t>(topics_.size()));
  if (fresh) topics_.push_back({name, {}, {}});
  return it->second;
}

void Bus::publish(Message m) {
  std::uint32_t t = topic_id(m.topic);
  if (observer) observer(m);
  topics_[t].log.push_back(std::move(m));
  // As Kafka's CreateTime: the wall clock of the publisher.
  topics_[t].published_at.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  // Copy the callbacks first: a notified consumer may attach or detach others.
  std::vector<std::function<void()>> wake;
  for (auto& [id, c] : consumers_) {
    if (c.positions.count(t) > 0) wake.push_back(c.notify);
  }
  for (auto& w : wake) w();
}

const std::vector<Message>& Bus::log(const std::string& topic) { return topics_[topic_id(topic)].log; }

Bus::ConsumerId Bus::attach(std::string group, std::function<void()> notify) {
  ConsumerId id = next_consumer_++;
  consumers_[id] = Consumer{std::move(group), std::move(notify), {}};
  return id;
}

void Bus::add_topics(ConsumerId consumer, const std::vector<std::string>& topics) {
  auto& c = consumers_.at(consumer);
  bool any = false;
  for (const auto& name : topics) {
    std::uint32_t t = topic_id(name);
    if (c.positions.count(t) > 0) continue;
    std::uint64_t from = groups_[{c.group, t}].committed;
    c.positions[t] = from;
    any = any || from < topics_[t].log.size();
  }
  if (any) c.notify();
}

std::vector<Received> Bus::poll(ConsumerId consumer, std::size_t max) {
  std::vector<Received> out;
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) return out;
  for (auto& [t, pos] : it->second.positions) {
    const auto& log = topics_[t].log;
    while (pos < log.size() && out.size() < max) {
      out.push_back({log[pos], token_of(t, pos),
                     Origin{static_cast<std::int64_t>(pos), topics_[t].published_at[pos]}});
      ++pos;
    }
  }
  return out;
}

void Bus::commit(ConsumerId consumer, std::span<const std::uint64_t> tokens) {
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) return;
  for (auto token : tokens) {
    auto t = static_cast<std::uint32_t>(token >> kOffsetBits);
    std::uint64_t offset = token & ((std::uint64_t{1} << kOffsetBits) - 1);
    auto& g = groups_[{it->second.group, t}];
    if (offset >= g.committed) g.acked.insert(offset);
    while (!g.acked.empty() && *g.acked.begin() == g.committed) {
      g.acked.erase(g.acked.begin());
      ++g.committed;
    }
  }
}

std::uint64_t Bus::committed(const std::string& group, const std::string& topic) {
  return groups_[{group, topic_id(topic)}].committed;
}

void Bus::detach(ConsumerId consumer) {
  // Acknowledged-but-not-contiguous offsets stay acked: like Kafka, only the committed prefix
  // counts when the group comes back, so messages after a gap are delivered again.
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) return;
  for (auto& [t, pos] : it->second.positions) groups_[{it->second.group, t}].acked.clear();
  consumers_.erase(it);
}

InProcessTransport::InProcessTransport(boost::asio::io_context& io, Bus& bus, std::string group)
    : io_(io), bus_(bus) {
  consumer_ = bus_.attach(std::move(group), [this] { post_drain(); });
}

InProcessTransport::~InProcessTransport() {
  *alive_ = false;
  bus_.detach(consumer_);
}

std::optional<std::string> InProcessTransport::subscribe(const std::vector<std::string>& topics) {
  if (closed_) return "the transport is closed";
  bus_.add_topics(consumer_, topics);
  return std::nullopt;
}

void InProcessTransport::set_handlers(ReceiveHandler on_receive, DeliveryHandler on_delivery) {
  on_receive_ = std::move(on_receive);
  on_delivery_ = std::move(on_delivery);
}

void InProcessTransport::post_drain() {
  if (drain_posted_ || closed_) return;
  drain_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired() || !*alive.lock()) return;
    drain_posted_ = false;
    if (closed_ || offline_ || !on_receive_) return;
    auto batch = bus_.poll(consumer_, 512);
    if (batch.empty()) return;
    if (batch.size() == 512) post_drain();  // more waiting: continue after others had a turn
    on_receive_(std::move(batch));
  });
}

void InProcessTransport::send(std::int64_t outbox_id, const Message& message) {
  if (closed_) return;
  std::string error = fail_send ? fail_send(message) : std::string();
  bool refused = max_message_bytes > 0 && message.value.size() > max_message_bytes;
  if (refused) error = "Broker: Message size too large";
  if (error.empty()) bus_.publish(message);
  deliveries_.push_back({outbox_id, std::move(error), refused});
  post_deliveries();
}

void InProcessTransport::post_deliveries() {
  if (deliveries_posted_) return;
  deliveries_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired() || !*alive.lock()) return;
    deliveries_posted_ = false;
    if (closed_ || !on_delivery_) return;
    on_delivery_(std::exchange(deliveries_, {}));
  });
}

void InProcessTransport::publish(const Message& message) {
  if (!closed_) bus_.publish(message);
}

void InProcessTransport::acknowledge(std::span<const std::uint64_t> tokens) {
  if (!closed_) bus_.commit(consumer_, tokens);
}

void InProcessTransport::catch_up(std::function<void()> done) {
  barriers_.push_back(std::move(done));
  post_barriers();
}

// Everything published so far is handed over first, then the barriers complete: on one
// executor that is exactly "consumed up to where the topics stood".
void InProcessTransport::post_barriers() {
  if (barriers_posted_ || offline_ || closed_ || barriers_.empty()) return;
  barriers_posted_ = true;
  boost::asio::post(io_, [this, alive = std::weak_ptr<bool>(alive_)] {
    if (alive.expired() || !*alive.lock()) return;
    barriers_posted_ = false;
    if (closed_ || offline_) return;
    for (auto batch = bus_.poll(consumer_, 512); !batch.empty(); batch = bus_.poll(consumer_, 512)) {
      if (on_receive_) on_receive_(std::move(batch));
      if (closed_ || offline_) return;
    }
    for (auto& done : std::exchange(barriers_, {})) done();
  });
}

void InProcessTransport::set_offline(bool offline) {
  offline_ = offline;
  if (!offline_) {
    post_drain();
    post_barriers();
  }
}

void InProcessTransport::close() {
  closed_ = true;
  on_receive_ = nullptr;
  on_delivery_ = nullptr;
}

}  // namespace wire
