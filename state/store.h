// Store: the engine's durable memory (a port; SqliteStore, the embedded default, and
// PostgresStore are the real ones, MemoryStore is for unit tests of the engine's logic). Shaped as a journal so that any database with
// transactions can implement it (the engine never sees tables), and so that state can be
// split by saga id: nothing in it relates two sagas except the journal's positions.
//
// Each transition of a saga is one journal entry (a Commit): the saga's new state (the whole
// instance, a snapshot, or only what changed: its header and the steps the transition
// touched), the history records it made, and the messages it causes (commands; dead letters
// are entries of their own with no saga). commit() appends a batch of entries, many sagas'
// at once (group commit), in one transaction: all of it is durable, or none of it. Each entry
// gets a position, increasing in commit order and never reused.
//
// Derived from the journal, not kept beside it:
//   - a saga's state: its latest snapshot entry with the entries after it applied;
//   - its history: the records of its entries, in order;
//   - the outbox: every entry after the delivered watermark. commit() also records how far
//     delivery has come ("every message of every entry up to here was confirmed sent"); on
//     recovery the entries after it are sent again (same message ids and idempotency keys).
//   - duplicate replies: recognised by the machine from the saga's own state (attempts and
//     step states), so nothing is stored per reply.
//
// Reads never hide a failure: each returns the value, or a Status saying whether the file
// failed (io) or a row is damaged (corrupt), naming the saga; "not found" is a value
// (nullopt), never an error in disguise. Lists report unreadable rows beside the good ones.
//
// Threading: commit() may run on a writer thread of its own while the reads run on the
// owner's thread (the engine's executor); an implementation must allow exactly that (one
// committing thread, one reading thread) and nothing more. A third thread reads through a
// handle of its own (open_reader).
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "sagas/event_type.h"
#include "sagas/instance.h"
#include "sagas/machine.h"
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

// A message kept verbatim in the journal (a dead letter; messages of older state files).
struct OutboxMessage {
  std::string topic;
  std::string key;
  Headers headers;
  std::string value;
  bool operator==(const OutboxMessage&) const = default;
};

// An entry's place in the journal: increasing in commit order, from 1, never reused.
using Position = std::int64_t;

// One transition of one saga: one journal entry.
struct Commit {
  sagas::Instance instance;  // the saga after the transition
  boost::container::small_vector<HistoryRow, 2> history;  // inline: a transition records one or two
  // Commands sent. Stored as step, kind, attempt and (for compensations) payload: the rest
  // follows from the definition, and an execute command's payload is its step's request.
  sagas::Sends sends;
  std::vector<OutboxMessage> messages;  // sent verbatim (dead letters)
  bool new_instance = false;            // the saga's first entry; fails the batch if the id exists
  // Which steps this transition changed (index -> changed); empty: all of them. Only the
  // changed ones are written, unless the store writes a snapshot.
  boost::container::small_vector<bool, 16> steps_changed;
  // No saga state, only `messages` (a dead letter for a reply that matches no saga).
  bool messages_only = false;
  Position position = 0;  // set by a successful commit()
};

// A committed entry whose messages may not have been delivered: what recovery sends again.
// `sends` hold step, kind, attempt and payload (null for execute: the step's request).
struct Undelivered {
  Position position = 0;
  std::string saga_id;  // empty for a dead letter
  std::string saga;     // the saga's name and version, for its lifecycle events
  int version = 0;
  std::vector<HistoryRow> history;
  std::vector<sagas::SendCommand> sends;
  std::vector<OutboxMessage> messages;
};

struct Backlog {
  Position last = 0;       // the newest position committed so far
  Position delivered = 0;  // the delivered watermark as last committed
  std::vector<Undelivered> entries;  // after the watermark, in position order
};

// A page of `list`: the summaries that could be read (instances without their input and
// steps: id, name, version, state, error and times), and the rows that could not.
struct Listed {
  std::vector<sagas::Instance> sagas;
  std::vector<BrokenRow> unreadable;
};

// Where a keyset page starts: after this saga in newest-first order (created earlier, or at
// the same time with a greater id). Paging by cursor costs the same on every page.
struct ListCursor {
  TimeMs created_at = 0;
  std::string id;
};

// The sagas a list shows when its reader gives no limit (`sagactl list`, GET /v1/sagas).
inline constexpr std::size_t kDefaultListLimit = 50;

// Which sagas `list` and `count` consider. Every condition present must hold.
struct ListFilter {
  std::optional<sagas::SagaState> state;
  std::optional<std::string> saga;
  std::optional<int> version;
  std::optional<std::string> id_prefix;
  std::optional<TimeMs> created_from;   // created at or after
  std::optional<TimeMs> created_until;  // created before
  std::optional<ListCursor> after;      // list only: the page starts after this saga
  std::size_t limit = 100;              // list only
  std::size_t offset = 0;               // list only: rows skipped (after `after`)
};

// How many sagas of one definition version are in one state.
struct StateCount {
  std::string saga;
  int version = 0;
  sagas::SagaState state = sagas::SagaState::running;
  std::size_t count = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // Appends the batch in one transaction and records the delivered watermark with it (one
  // fsync for both); on success sets each entry's position. An empty batch only moves the
  // watermark. `delivered` never goes back: a lower value than the stored one is ignored.
  virtual Status commit(std::span<Commit> batch, Position delivered) = 0;

  // Whether commits can still be made to what was opened (the state file is still the one
  // locked, intact); the error says what happened. Cheap: called about once a second from the
  // owner's thread, and it may run beside a commit on the writer's.
  virtual Status check() { return Status::success(); }

  // nullopt: no saga with that id.
  virtual Result<std::optional<sagas::Instance>> load(const std::string& id) = 0;
  // Every instance that is not in a terminal state, for recovery. Fails (corrupt), naming
  // each saga, when any of them cannot be read: recovery must not skip a saga.
  virtual Result<std::vector<sagas::Instance>> load_active() = 0;
  // Summaries, newest first; load() gives a saga whole.
  virtual Result<Listed> list(const ListFilter& filter) = 0;
  // Sagas per (name, version, state) that match the filter's saga, version, id prefix and
  // time range; its state, cursor, limit and offset are ignored (a console shows the count
  // of every state beside a list of one). A row whose state cannot be read is not counted.
  virtual Result<std::vector<StateCount>> count(const ListFilter& filter) = 0;
  virtual Result<std::vector<HistoryRow>> history(const std::string& id) = 0;

  // The entries after the delivered watermark that carry something to send.
  virtual Result<Backlog> undelivered() = 0;

  // True when a saga with this id finished and was pruned by retention (a tombstone is
  // kept for a further retention period), so a late reply to it is recognised as late.
  virtual Result<bool> was_pruned(const std::string& id) = 0;

  // Up to `limit` saga ids that start with `prefix`, in byte order (the CLI's id prefixes).
  virtual Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) = 0;

  // A second handle on the same state, for a thread of its own that only reads (the admin
  // API's reads run there, never on the owner's thread): a connection of its own, guarded as
  // the owner's reads are (SQLite: the file is still the one opened). Its reads may run while
  // the owner reads and while commit() runs; commit, prune and recovery's reads are not for
  // it. It must not outlive this store. nullptr: this store has no such handle, its reads stay
  // on the owner's thread.
  virtual Result<std::unique_ptr<Store>> open_reader() { return std::unique_ptr<Store>(); }

  // Deletes terminal sagas last updated before `before`, with their journal, at most
  // `max_sagas` of them, leaving a tombstone dated `now` each; drops tombstones dated before
  // `before` and delivered dead letters. Returns how many sagas. A write: called where
  // commit() is (the engine's writer thread, between commits), never beside a commit.
  virtual Result<std::size_t> prune(TimeMs before, std::size_t max_sagas, TimeMs now) = 0;
};

}  // namespace state
