// An in-process message bus with Kafka's consumption model, and the engine's Transport on it.
// For tests and for embedding the engine with participants in the same process.
//
// Like Kafka: each topic is an append-only log; consumers belong to a group, and a group's
// committed offset per topic survives its consumers, so a consumer that is destroyed without
// acknowledging (a crashed orchestrator) gets the unacknowledged messages again when its
// group reattaches. Acknowledgements commit the contiguous prefix of acknowledged offsets.
//
// Not thread-safe: the bus and everything attached to it run on one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "wire/transport.h"

namespace boost::asio {
class io_context;
}

namespace wire {

class Bus {
 public:
  using ConsumerId = std::uint64_t;

  void publish(Message m);
  // Sees every message as it is published, in one global order (for tests).
  std::function<void(const Message&)> observer;
  // Everything ever published to the topic, oldest first.
  const std::vector<Message>& log(const std::string& topic);

  // A consumer in `group`; `notify` is called (synchronously, from publish) when one of its
  // topics has a new message: it should schedule a poll, not poll from inside.
  ConsumerId attach(std::string group, std::function<void()> notify);
  void add_topics(ConsumerId consumer, const std::vector<std::string>& topics);
  std::vector<Received> poll(ConsumerId consumer, std::size_t max);
  void commit(ConsumerId consumer, std::span<const std::uint64_t> tokens);
  void detach(ConsumerId consumer);
  // The group's committed offset on the topic: how many messages it has acknowledged in order.
  std::uint64_t committed(const std::string& group, const std::string& topic);

 private:
  struct Topic {
    std::string name;
    std::vector<Message> log;
    std::vector<std::int64_t> published_at;  // by offset, ms since the epoch
  };
  struct GroupOffset {
    std::uint64_t committed = 0;
    std::set<std::uint64_t> acked;  // beyond `committed`
  };
  struct Consumer {
    std::string group;
    std::function<void()> notify;
    std::map<std::uint32_t, std::uint64_t> positions;  // topic -> next offset to read
  };

  std::uint32_t topic_id(const std::string& name);

  std::vector<Topic> topics_;
  std::map<std::string, std::uint32_t> topic_ids_;
  std::map<std::pair<std::string, std::uint32_t>, GroupOffset> groups_;
  std::map<ConsumerId, Consumer> consumers_;
  ConsumerId next_consumer_ = 1;
};

class InProcessTransport final : public Transport {
 public:
  InProcessTransport(boost::asio::io_context& io, Bus& bus, std::string group = "sagactl");
  ~InProcessTransport() override;
  InProcessTransport(const InProcessTransport&) = delete;
  InProcessTransport& operator=(const InProcessTransport&) = delete;

  std::optional<std::string> subscribe(const std::vector<std::string>& topics) override;
  void set_handlers(ReceiveHandler on_receive, DeliveryHandler on_delivery) override;
  void send(std::int64_t outbox_id, const Message& message) override;
  void publish(const Message& message) override;
  void acknowledge(std::span<const std::uint64_t> tokens) override;
  void close() override;
  void catch_up(std::function<void()> done) override;
  bool ready() const override { return !offline_ && !closed_; }

  // Test hook: a non-empty answer fails the send with that delivery error.
  std::function<std::string(const Message&)> fail_send;
  // Test hook: a larger value is refused for good, as a broker refuses a message over its
  // message.max.bytes (0: no limit).
  std::size_t max_message_bytes = 0;
  // Test hook: while offline nothing is received and catch-up barriers wait, as when the
  // brokers are unreachable or the partitions are not assigned; sends still go out.
  void set_offline(bool offline);

 private:
  void post_drain();
  void post_deliveries();
  void post_barriers();
  std::vector<std::function<void()>> barriers_;
  bool barriers_posted_ = false;
  bool offline_ = false;

  boost::asio::io_context& io_;
  Bus& bus_;
  Bus::ConsumerId consumer_ = 0;
  ReceiveHandler on_receive_;
  DeliveryHandler on_delivery_;
  std::vector<Delivery> deliveries_;
  bool drain_posted_ = false;
  bool deliveries_posted_ = false;
  bool closed_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted handlers
};

}  // namespace wire
