// DevBroker: a development Kafka cluster in this process, on loopback: librdkafka's mock
// cluster (rdkafka_mock.h), which speaks the real Kafka protocol to any client (librdkafka,
// kcat, Java). For `sagactl dev-broker`, `brokers: embedded`, and the tests. Nothing is
// persisted.
//
// Clients bootstrap through a fixed port (kDefaultPort unless told; 0 picks a free one, read
// it from bootstrap()), forwarded to the mock cluster: the mock brokers' own ports are new at
// every start, and the metadata a client fetches through the fixed port names them. So a
// client that outlives a restart of the broker finds it again.
//
// Sizes: a produce request larger than kMaxRequestBytes is refused (the broker closes that
// connection; the client retries the request until its message.timeout.ms and then reports
// the message undelivered), so every client left at its defaults (librdkafka's 1,000,000,
// Java's 1,048,576) is served. The cap keeps the mock cluster's retention sound: it keeps the
// newest kRetainedBytes of each partition, and it loses acknowledged messages when one batch
// and the next together pass that (librdkafka 2.0.2 then sets the log's start past them).
// Two capped batches never do. A consumer that falls more than kRetainedBytes behind on a
// partition finds its offset out of range, as on a real broker whose retention removed it.
//
// Thread-safe as librdkafka's mock API is; typically owned by main() or a test fixture.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "sagas/result.h"

namespace kafka {

class DevBroker {
 public:
  // The bootstrap port when none is configured (Kafka's 9092 is left to a real broker).
  static constexpr int kDefaultPort = 19092;
  // Kafka's default message.max.bytes (1,048,588) plus room for a produce request's headers.
  static constexpr int kMaxRequestBytes = 1'048'588 + 64 * 1024;
  // What the mock cluster keeps of each partition (librdkafka's rdkafka_mock.c, max_size).
  static constexpr int kRetainedBytes = 5 * 1024 * 1024;
  static_assert(2 * kMaxRequestBytes < kRetainedBytes, "two batches at the cap must fit the retained log");

  static sagas::Result<std::unique_ptr<DevBroker>, std::string> start(int brokers = 1, int port = 0);
  ~DevBroker();
  DevBroker(const DevBroker&) = delete;
  DevBroker& operator=(const DevBroker&) = delete;

  // "127.0.0.1:PORT": what clients put in bootstrap.servers.
  const std::string& bootstrap() const;
  int brokers() const;
  // Creates a topic now, so it is in metadata before anyone asks (idempotent).
  std::optional<std::string> create_topic(const std::string& name, int partitions);
  // Fault injection: broker ids are 1..brokers().
  void set_down(int broker_id);
  void set_up(int broker_id);

 private:
  struct Impl;
  explicit DevBroker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kafka
