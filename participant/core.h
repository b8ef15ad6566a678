// The participant side of the protocol (docs/protocol.md), independent of any transport: a service
// registers a handler per command; the core reads a command message, deduplicates it by its
// idempotency key, calls the handler and builds the reply message.
//
// Guarantees a participant needs and should not hand-roll:
//  - a repeated command (a retry, a resend after an orchestrator crash) gets the recorded
//    success reply again; the handler runs once per idempotency key. A failure reply is not
//    recorded: by the protocol a failed command did nothing, so a retry (after the pivot,
//    steps retry on failure) executes it again;
//  - a compensation for a command that never executed here is answered `success` without
//    calling the compensation handler (an "empty compensation"), and the command, should it
//    still arrive, is then refused with a failure instead of executing after its undo;
//  - a handler that throws (anything) gets no reply (the orchestrator's timeout and retry
//    take over, as for a crashed service), and nothing is recorded;
//  - a command received after its `expires-at` is skipped unanswered, the handler not called:
//    the orchestrator has timed that attempt out already and retries or compensates under the
//    same idempotency key. A consumer reading old commands again (a new consumer group) so
//    never repeats finished business.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "wire/transport.h"
#include "sagas/json.h"

namespace boost::asio {
class io_context;
}

namespace wire {
class Bus;
}  // namespace wire

namespace participant {


struct Command {
  std::string saga_id;
  std::string saga;
  std::string step;
  std::string action;  // execute | compensate
  std::string command;
  std::string idempotency_key;
  std::uint32_t attempt = 0;
  sagas::Json payload;
};

struct Reply {
  bool success = true;
  sagas::Json body = sagas::Json::object();

  static Reply ok(sagas::Json body = sagas::Json::object()) { return {true, std::move(body)}; }
  static Reply failure(const std::string& error);
};

// Where replies are remembered by idempotency key. The in-memory one is for tests and
// demos; a service that must survive restarts needs a durable one.
class DedupStore {
 public:
  virtual ~DedupStore() = default;
  virtual std::optional<Reply> find(const std::string& key) = 0;
  virtual void put(const std::string& key, const Reply& reply) = 0;
};

class MemoryDedupStore final : public DedupStore {
 public:
  std::optional<Reply> find(const std::string& key) override;
  void put(const std::string& key, const Reply& reply) override;

 private:
  std::map<std::string, Reply> replies_;
};

// Thread-safe: handle() may run on several threads at once (a handler past its deadline
// finishing beside the next command's); the reply memory and the call counts are locked,
// never around a handler.
class ParticipantCore {
 public:
  using Handler = std::function<Reply(const Command&)>;
  // Wall-clock time in ms since the epoch, compared with a command's `expires-at`.
  using Clock = std::function<std::int64_t()>;

  explicit ParticipantCore(std::shared_ptr<DedupStore> dedup = std::make_shared<MemoryDedupStore>());

  void on(const std::string& command, Handler handler);
  // Replaces the reply memory (before the first command is handled).
  void use(std::shared_ptr<DedupStore> dedup) { dedup_ = std::move(dedup); }
  // Replaces the clock expiry is judged by (the system clock by default).
  void use_clock(Clock now) { now_ = std::move(now); }

  // The reply to send for this command message, or nothing: the handler threw, the command
  // expired, or the message is not a command (each logged).
  std::optional<wire::Message> handle(const wire::Message& command);

  // Handler invocations by idempotency key, counted only after count_calls(true): a map entry
  // per key would grow without bound in a long-running service. For tests.
  void count_calls(bool on) { count_calls_ = on; }
  std::map<std::string, int> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::optional<Reply> find(const std::string& key);
  void put(const std::string& key, const Reply& reply);

  std::shared_ptr<DedupStore> dedup_;
  std::map<std::string, Handler> handlers_;
  std::map<std::string, int> calls_;
  bool count_calls_ = false;
  Clock now_;
  mutable std::mutex mu_;  // dedup_'s calls and calls_
};

// A participant on the in-process bus: consumes its command topics and replies on the bus.
class InProcessParticipant {
 public:
  InProcessParticipant(boost::asio::io_context& io, wire::Bus& bus, std::vector<std::string> topics,
                       std::shared_ptr<ParticipantCore> core, std::string group = "participant");
  ~InProcessParticipant();
  InProcessParticipant(const InProcessParticipant&) = delete;
  InProcessParticipant& operator=(const InProcessParticipant&) = delete;

  // Test hook: how many copies of a reply go out (0: the reply is lost, 2: duplicated).
  std::function<int(const Command&)> copies;

 private:
  void drain();

  boost::asio::io_context& io_;
  wire::Bus& bus_;
  std::shared_ptr<ParticipantCore> core_;
  std::uint64_t consumer_ = 0;
  bool posted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Reads the command headers and payload of a command message.
std::optional<Command> read_command(const wire::Message& m, std::string* error);

}  // namespace participant
