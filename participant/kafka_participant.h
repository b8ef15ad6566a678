// Participant: a participant service's side of the saga protocol over Kafka (docs/protocol.md).
//
//   participant::Participant p{io, kafka_options, "inventory.commands"};
//   p.on("ReserveStock", [](const participant::Command& c) -> participant::Reply { ... });
//   p.start();  // then io.run()
//
// Consumes the command topic (consumer group `kafka.group_id`; left at the KafkaOptions
// default it becomes "<topic>.participant", so it never shares the orchestrator's group),
// dispatches by
// `saga-command`, and replies on the command's `reply-to` with the headers of docs/protocol.md. What the
// ParticipantCore guarantees (participant/core.h) holds: deduplication by
// idempotency-key, empty compensations, no reply from a throwing handler. The dedup memory is
// a SQLite file by default (`dedup_path`), so it survives restarts. A command's offset is
// committed only after its reply was delivered, so a crash between the two repeats the
// command, and the recorded reply goes out again.
//
// Threading: handlers run on the io_context's thread; with options.handler_timeout, each on a
// thread of its own (one at a time, in order).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "participant/core.h"
#include "kafka/transport.h"

namespace participant {

struct ParticipantOptions {
  // The reply memory: a SQLite file, or your own store (then dedup_path is unused).
  std::string dedup_path;
  std::shared_ptr<DedupStore> dedup;
  // Count handler calls per idempotency key for calls() (tests; grows with every key).
  bool count_calls = false;
  // How long a handler may run (0: no deadline, handlers run on the io_context's thread).
  // With a deadline each handler runs on a thread of its own, one command at a time, and one
  // that overruns is left to finish there while the next command is served (docs/kafka.md).
  std::chrono::milliseconds handler_timeout{0};
  // The wall clock a command's `expires-at` is judged by (tests with a manual clock); the
  // system clock when empty.
  ParticipantCore::Clock clock;
};

class Participant {
 public:
  Participant(boost::asio::io_context& io, kafka::KafkaOptions kafka, std::string topic, ParticipantOptions options = {});
  ~Participant();
  Participant(const Participant&) = delete;
  Participant& operator=(const Participant&) = delete;

  void on(const std::string& command, ParticipantCore::Handler handler);
  // Connects and starts consuming; the error says what is wrong (a bad property, the dedup
  // file, ...). Brokers that do not answer yet are no error: said once (naming them), then
  // asked again with backoff on the io_context, and consumed from once they answer.
  std::optional<std::string> start();
  void stop();

  // Test hook: how many copies of a reply go out (0: the reply is lost, 2: duplicated).
  std::function<int(const Command&)> copies;
  // Handler calls so far, by idempotency key (empty unless options.count_calls).
  std::map<std::string, int> calls() const;
  // Handlers past their deadline that have not returned yet (with handler_timeout).
  std::size_t overdue() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace participant
