// Store: the engine's durable memory (a port; SqliteStore is the real one, MemoryStore is for
// unit tests of the engine's logic).
//
// The engine writes through commit(): a batch of transitions (many sagas' at once: group
// commit), each with the instance's new state, its history rows, and the messages it
// causes (the outbox). A batch is one transaction: all of it is durable, or none of it.
// Messages are deleted from the outbox only after the transport confirmed delivery, so a
// crash between commit and send re-sends them on recovery (same message and idempotency
// key). Reply message ids are recorded with the transition they caused, so a redelivered
// reply is recognised after a restart.
//
// Reads never hide a failure: each returns the value, or a Status saying whether the file
// failed (io) or a row is damaged (corrupt), naming the saga; "not found" is a value
// (nullopt), never an error in disguise. Lists report unreadable rows beside the good ones.
//
// Not thread-safe: one owner (the engine's executor) calls it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sagas/event_type.h"
#include "sagas/instance.h"
#include "sagas/result.h"

namespace state {

using sagas::TimeMs;

enum class Errc { ok, io, corrupt, locked, not_found };

struct Status {
  Errc code = Errc::ok;
  std::string message;  // what went wrong and what to do
  bool ok() const { return code == Errc::ok; }
  static Status success() { return {}; }
};

template <typename T>
using Result = sagas::Result<T, Status>;

// A saga's row that exists but cannot be read (bad JSON, a missing step, an unknown state).
struct BrokenRow {
  std::string saga_id;
  std::string problem;
};

struct HistoryRow {
  TimeMs at = 0;
  sagas::EventType event = sagas::EventType::saga_started;
  std::string step;  // empty for saga-level events
  std::string detail;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

struct OutboxMessage {
  std::int64_t id = 0;  // assigned by the store
  std::string saga_id;
  std::string topic;
  std::string key;
  Headers headers;
  std::string value;
};

// One transition's writes.
struct Commit {
  sagas::Instance instance;
  std::vector<HistoryRow> history;
  std::vector<OutboxMessage> outbox;
  std::optional<std::string> processed_reply;  // the reply message id this transition applied
  bool new_instance = false;                   // insert; fails the batch if the id exists
  // Which steps this transition changed (index -> changed); empty: all of them. A reply
  // touches one step of many, and rewriting the others would only cost disk writes.
  std::vector<bool> steps_changed;
  // No saga state, only messages for the outbox (a dead letter for a reply that matches no
  // saga): `instance` is ignored except for its id, which may be empty.
  bool messages_only = false;
};

// A page of `list`: the sagas that could be read, and the rows that could not.
struct Listed {
  std::vector<sagas::Instance> sagas;
  std::vector<BrokenRow> unreadable;
};

struct ListFilter {
  std::optional<sagas::SagaState> state;
  std::optional<std::string> saga;
  std::size_t limit = 100;
  std::size_t offset = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Writes the batch in one transaction, together with clearing the outbox messages in
  // `sent` (delivered since the last commit: one fsync for both); on success fills in the
  // new outbox messages' ids.
  virtual Status commit(std::span<Commit> batch, std::span<const std::int64_t> sent) = 0;
  Status commit(std::span<Commit> batch) { return commit(batch, {}); }

  // nullopt: no saga with that id.
  virtual Result<std::optional<sagas::Instance>> load(const std::string& id) = 0;
  // Every instance that is not in a terminal state, for recovery. Fails (corrupt), naming
  // each saga, when any of their rows cannot be read: recovery must not skip a saga.
  virtual Result<std::vector<sagas::Instance>> load_active() = 0;
  // Newest first.
  virtual Result<Listed> list(const ListFilter& filter) = 0;
  virtual Result<std::vector<HistoryRow>> history(const std::string& id) = 0;

  // Messages committed but not yet confirmed sent, oldest first.
  virtual Result<std::vector<OutboxMessage>> pending_outbox() = 0;
  virtual Status mark_sent(std::span<const std::int64_t> outbox_ids) = 0;

  virtual Result<bool> reply_processed(const std::string& message_id) = 0;
  // True when a saga with this id finished and was pruned by retention (a tombstone is
  // kept for a further retention period), so a late reply to it is recognised as late.
  virtual Result<bool> was_pruned(const std::string& id) = 0;

  // Deletes terminal sagas last updated before `before`, with their history, outbox and
  // dedup rows, at most `max_sagas` of them, leaving a tombstone dated `now` each; drops
  // tombstones dated before `before`. Returns how many sagas.
  virtual Result<std::size_t> prune(TimeMs before, std::size_t max_sagas, TimeMs now) = 0;
};

}  // namespace state
