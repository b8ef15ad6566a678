// Transport: the engine's port to the message broker (Kafka in production, kafka/; the
// in-process bus of in_process.h for tests and embedding).
//
// The engine hands over commands that are already committed to the outbox and learns of
// their delivery through `on_delivery`; it is given replies in batches through `on_receive`
// and acknowledges each one only after the commit that applied it (or after deciding to
// ignore it), so a crash never loses a reply: an unacknowledged one is delivered again.
// A transport acknowledges in order: it may only release a reply once every earlier one on
// the same topic/partition is acknowledged too (Kafka commits offsets, not messages).
//
// Threading: every call is made on the engine's executor, and a transport must call the
// handlers on that executor too, never from its own threads.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace wire {

using Headers = std::vector<std::pair<std::string, std::string>>;

// One record on a topic.
struct Message {
  std::string topic;
  std::string key;
  Headers headers;
  std::string value;
  // Sending: the partition to write to, or kAnyPartition for the producer's partitioner (by
  // key). Received: the partition it was read from.
  static constexpr int kAnyPartition = -1;
  int partition = kAnyPartition;

  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

// Where a received message stands in its log (Kafka: the partition is the message's), when
// the transport has one: the same message read again has the same origin.
struct Origin {
  std::int64_t offset = 0;
  std::int64_t timestamp_ms = 0;  // when the log says it was produced (ms since the epoch)
};

// What a delivered message asks of the orchestrator.
enum class MessageKind : std::uint8_t {
  reply,  // a participant's reply to a command
  start,  // a start request: read off the start topic, or handed on by a cluster node
};

// A message the transport delivered, with the token that acknowledges it.
struct Received {
  Message message;
  std::uint64_t token = 0;
  std::optional<Origin> origin;  // none: the transport keeps no log
  // Set by whoever knows it better than the message's topic (a cluster node handing a start
  // to its shard's owner); a message off the engine's own start topic is a start either way.
  MessageKind kind = MessageKind::reply;
};

// The result of sending one outbox message: empty `error` means the broker has it.
struct Delivery {
  std::int64_t outbox_id = 0;
  std::string error;
  // The message can never be delivered as it is (larger than the client's or the broker's
  // limit): not retried. A command's step fails with `error`.
  bool refused = false;
};

class Transport {
 public:
  using ReceiveHandler = std::function<void(std::vector<Received>)>;
  using DeliveryHandler = std::function<void(std::vector<Delivery>)>;

  virtual ~Transport() = default;

  // Starts consuming `topics` (added to any consumed already). Returns an error message
  // when the transport cannot (a bad property, no such topic and cannot create it, ...).
  virtual std::optional<std::string> subscribe(const std::vector<std::string>& topics) = 0;
  virtual void set_handlers(ReceiveHandler on_receive, DeliveryHandler on_delivery) = 0;

  // Sends a committed outbox message; the result comes back through the delivery handler.
  virtual void send(std::int64_t outbox_id, const Message& message) = 0;
  // Fire-and-forget publishing, with no delivery report (a participant's replies, tools).
  // The engine never uses it: its events and dead letters go through the outbox (send).
  virtual void publish(const Message& message) = 0;
  virtual void acknowledge(std::span<const std::uint64_t> tokens) = 0;

  // Calls `done` on the executor once every message that stood on the consumed partitions
  // when this was called has been handed to the receive handler (so it was applied before
  // `done` runs). It waits while any partition of the reply topics is unassigned or being
  // rebalanced and while the brokers cannot be reached. The engine holds overdue timers
  // behind this barrier: a timeout measures the participant, never the orchestrator's own
  // absence.
  virtual void catch_up(std::function<void()> done) = 0;
  // True while the transport owns every partition of its reply topics and has caught up
  // with them since it got them (readiness).
  virtual bool ready() const = 0;

  // Stops consuming and delivering; handlers are not called after it returns.
  virtual void close() = 0;
};

}  // namespace wire
