// KafkaTransport: the engine's Transport over Kafka with librdkafka (the only code that
// includes librdkafka; its types do not appear in this header).
//
// Producing: an idempotent producer (enable.idempotence, acks=all). Each send carries its
// outbox id as the message opaque; the delivery report comes back through the delivery
// handler, so the engine clears the outbox only for messages the brokers acknowledged.
// While brokers are unreachable librdkafka keeps retrying (up to message.timeout.ms); a
// send that finally fails is reported and the engine sends it again later.
//
// Consuming: manual offset commits only. A received message's offset is committed once it
// and every earlier message of its partition are acknowledged (after the engine's SQLite
// commit), so a crash re-delivers exactly what was not yet applied. Two modes:
//  - assign: take every partition of the topics directly (no group join, so a restarted
//    orchestrator consumes at once; offsets still committed to `group_id`). The
//    one-orchestrator-per-state-file deployment, and what `sagactl run` uses by default;
//  - group: subscribe in consumer group `group_id` (cooperative-sticky assignment, static
//    membership with `instance_id`, `session_timeout_ms`); partitions are balanced between
//    members. On revoke the acknowledged offsets are committed synchronously and the
//    partitions' bookkeeping dropped.
// Every commit names the orchestrator (`owner`) in its metadata; consuming where the
// group's offsets name another owner is refused at subscribe().
// catch_up() and ready() implement the engine's rule that time is the participant's: see
// kafka_catch_up.h.
//
// Threading: librdkafka's work happens on its own threads and on two poller threads owned
// here; every handler is posted to the io_context given at construction, so the engine
// sees deliveries and messages on its executor only. Public calls are made on that
// executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wire/transport.h"
#include "sagas/result.h"

namespace boost::asio {
class io_context;
}

namespace kafka {

struct KafkaOptions {
  std::string brokers = "localhost:9092";
  std::map<std::string, std::string> properties;  // passed to librdkafka as they are
  std::string group_id = "sagactl";
  enum class Consume { group, assign } consume = Consume::group;
  // How long a fetch may wait for data. A real broker answers as soon as data arrives, so
  // the default costs nothing there; the mock cluster always holds an empty fetch for the
  // whole wait (measured), so the development broker sets 1.
  int fetch_wait_max_ms = 100;
  int linger_ms = 1;
  // Topics whose metadata is fetched at start-up, so the first message to each does not
  // wait for librdkafka's topic scan (~1 s).
  std::vector<std::string> warm_topics;
  std::string client_id = "sagactl";
  // Group mode: static membership (group.instance.id; empty: dynamic) and the session
  // timeout after which a member that vanished loses its partitions (failover time).
  std::string instance_id;
  int session_timeout_ms = 10'000;
  // Who consumes with this group ("host:state-file"): written into every offset commit, and
  // consuming is refused when the group's offsets name another owner. Empty: no check.
  std::string owner;
  // Group mode in a cluster: each member works the sagas of its own partitions, so readiness
  // and the catch-up barrier need only the partitions this member has (kafka_catch_up.h).
  bool shared_partitions = false;
  // The longest the destructor's stop takes (flush, consumer close, destroy), whatever the
  // brokers' state; shutdown() takes a deadline of its own instead.
  int shutdown_timeout_ms = 10'000;
};

// Partitions that came to this consumer or left it in a rebalance (group mode).
struct AssignmentChange {
  std::vector<std::pair<std::string, std::int32_t>> assigned;
  std::vector<std::pair<std::string, std::int32_t>> revoked;  // their acknowledged offsets are committed
};

// Checks librdkafka properties (names and values) without creating a client: what
// KafkaTransport::create would refuse, said before anything starts. Empty when fine.
std::optional<std::string> check_properties(const std::map<std::string, std::string>& properties);

class KafkaTransport final : public wire::Transport {
 public:
  // Validates the options (every property through librdkafka, whose message is returned
  // for a bad one) and creates the producer and consumer.
  static sagas::Result<std::unique_ptr<KafkaTransport>, std::string> create(boost::asio::io_context& io,
                                                                          const KafkaOptions& options);
  ~KafkaTransport() override;
  KafkaTransport(const KafkaTransport&) = delete;
  KafkaTransport& operator=(const KafkaTransport&) = delete;

  std::optional<std::string> subscribe(const std::vector<std::string>& topics) override;
  void set_handlers(wire::Transport::ReceiveHandler on_receive, wire::Transport::DeliveryHandler on_delivery) override;
  void send(std::int64_t outbox_id, const wire::Message& message) override;
  void publish(const wire::Message& message) override;
  void acknowledge(std::span<const std::uint64_t> tokens) override;
  void catch_up(std::function<void()> done) override;
  bool ready() const override;
  void close() override;

  // A cluster's barrier over what other members of the group read (kafka_group_barrier.h):
  // calls `done` on the executor once the group's committed offsets of every partition of
  // `topics` (with `skip_assigned`, of those this member does not hold) have reached the
  // high watermarks they had after the call, i.e. every message written there before was
  // handled by some member. Waits while brokers do not answer or a dead member holds some.
  void settle(std::vector<std::string> topics, bool skip_assigned, std::function<void()> done);
  // Told of every rebalance, on the executor: after the messages of revoked partitions
  // already handed over and before any of newly assigned ones.
  void on_assignment(std::function<void(const AssignmentChange&)> handler);
  // The partition count of `topic` (from the brokers' metadata), or why not.
  sagas::Result<int, std::string> partition_count(const std::string& topic);

  // Waits up to `timeout_ms` for produced messages to be delivered.
  void flush(int timeout_ms);
  // Stops by `deadline` whatever the brokers' state: closes (no more handlers), delivers what
  // it can, commits the acknowledged offsets as the consumer leaves, destroys the clients
  // without waiting on an unreachable cluster. What was not delivered is logged (it stays in
  // the journal's outbox). Idempotent; the destructor calls it with shutdown_timeout_ms.
  void shutdown(std::chrono::steady_clock::time_point deadline);

  // False after librdkafka reported every broker down, until a message gets through again.
  bool brokers_up() const;
  // "brokers unreachable: HOST:PORT,... (since 2026-12-05T03:40:00Z)" while every broker is
  // down; empty while any answers.
  std::optional<std::string> brokers_unreachable() const;
  // One metadata request for the warm topics, waiting up to `timeout_ms`: empty when the
  // brokers answered, else why not (naming them). Blocks; call it off the event loop.
  std::optional<std::string> probe_brokers(int timeout_ms);
  // How many of the partitions it consumes (reply topics, start topic) this consumer owns,
  // of how many there are: readiness and the catch-up barrier need all of them.
  struct Partitions {
    std::size_t owned = 0;
    std::size_t of = 0;
  };
  Partitions consumed_partitions() const;
  // Messages on the consumed partitions not yet read (high watermark minus position, from
  // librdkafka's cached offsets), summed.
  std::int64_t consumer_lag() const;

 private:
  struct Impl;
  explicit KafkaTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kafka
