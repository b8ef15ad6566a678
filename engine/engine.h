// Engine: the orchestrator. One Boost.Asio io_context drives every saga instance; saga state
// is touched only on that executor, so there are no locks around it.
//
// The engine feeds events (starts, replies, timer expiries, operator requests) to the pure
// machine (sagas/machine.h) and acts on what it returns, in this order:
//   1. the new instance, its history rows and the commands it sends go into the pending
//      batch; many sagas' transitions share one batch (group commit);
//   2. the batch is committed to the Store in one transaction, on a writer thread of the
//      engine's own (the event loop never waits on the disk: it builds the next batch
//      meanwhile), and the outcome is posted back to the executor;
//   3. only then are the commands handed to the Transport, timers armed, lifecycle events
//      published, and the replies that caused the transitions acknowledged.
// A crash anywhere loses nothing: open() resumes every unfinished saga from its last commit,
// re-sends outbox messages that were never confirmed (same message id and idempotency key)
// and re-arms timers from the persisted deadlines.
//
// Time is the participant's: a saga timer (attempt timeout, backoff, deadline) due at T fires
// only after the transport has consumed its reply partitions up to where they stood at T
// (Transport::catch_up). Unassigned partitions, a rebalance, an unreachable broker or a
// restart's backlog therefore delay timeouts instead of turning into them, and replies that
// waited in the broker during a crash are applied before any overdue timer. If a commit fails (disk full, I/O error)
// nothing of that batch is acted on and the commit is retried.
//
// Threading: every member function must be called on the io_context's thread (or before it
// runs). The engine borrows its Store, Transport and Clock; they must outlive it. Its writer
// thread calls only Store::commit, one batch at a time (state/store.h allows it); list(),
// history() and close() wait for the batch in flight, so they see every transition applied.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "dsl/loader.h"
#include "engine/clock.h"
#include "wire/transport.h"
#include "sagas/definition.h"
#include "sagas/instance.h"
#include "sagas/named_type.h"
#include "sagas/result.h"
#include "state/store.h"

namespace boost::asio {
class io_context;
}

namespace engine {

using SagaId = sagas::NamedType<std::string, struct SagaIdTag>;
using sagas::SagaState;
using sagas::StepState;

enum class Errc {
  ok,
  invalid_input,  // the start input, an id, a request that does not fit
  unknown_saga,   // no definition by that name is loaded
  not_found,      // no saga instance with that id
  conflict,       // the request does not fit the saga's state
  too_large,      // a command would exceed the broker's message size limit
  store,          // the state file failed
  transport,      // the broker failed
  closed,         // the engine is closed
};

struct Status {
  Errc code = Errc::ok;
  std::string message;  // what went wrong and what to do about it
  // With code store: the store's own code, so a caller tells a damaged row (corrupt) from a
  // database that is away (io) or held by another orchestrator (locked).
  state::Errc store_code = state::Errc::ok;
  bool ok() const { return code == Errc::ok; }
};

// The one conversion of a store's failure into the engine's: code store, with the store's
// own code and message kept.
inline Status from_store(const state::Status& failed) { return {Errc::store, failed.message, failed.code}; }

template <typename T>
using Result = sagas::Result<T, Status>;

struct EngineOptions {
  std::size_t max_batch = 512;                    // transitions per transaction (group commit)
  TimeMs retention = 7LL * 24 * 3600 * 1000;      // terminal sagas are pruned after this; 0 keeps all
  TimeMs retention_interval = 60'000;             // how often to look for sagas to prune
  std::size_t retention_batch = 500;              // sagas deleted per transaction
  TimeMs resend_delay = 1'000;                    // after a failed delivery
  // The largest message the transport delivers (librdkafka's message.max.bytes, whose default
  // this is): a start whose commands, rendered from its input, would be larger is refused
  // (too_large), and so is a dead letter's copy, cut to fit. 0: no limit.
  std::size_t max_message_bytes = 1'000'000;
  TimeMs commit_retry_delay = 1'000;              // after a failed commit
  // The delivered watermark (what the broker has confirmed) rides on the next commit; when
  // nothing else commits within this delay, a commit of its own records it. (A crash before
  // that re-sends what it did not record: participants deduplicate by idempotency key.)
  // Saves one fsync per step.
  TimeMs outbox_clear_delay = 100;
  std::function<double()> random;                 // jitter, uniform [0, 1); default: seeded PRNG
  std::function<std::string()> new_id;            // saga ids; default: UUID v7 (time-ordered)
  // The ids this engine makes (new_id) must pass this: a cluster shard's engine makes only ids
  // of its shard. Empty: any.
  std::function<bool(const std::string&)> accept_id;
  // Lifecycle events are published here as JSON, keyed by saga id; empty: not published.
  std::string events_topic;
  // Sagas are started by messages here (header saga-name, optional saga-id or
  // idempotency-key, value = the input as JSON); empty: not consumed.
  std::string start_topic;
  // Told the duration of every successful commit and how many transitions it carried (metrics).
  std::function<void(double seconds, std::size_t transitions)> on_commit;
  // Told once, with the store's reason, when the store refuses a commit because another
  // orchestrator has taken it over (state::Errc::locked: a PostgreSQL store's epoch moved
  // on). The engine then never commits, sends or acknowledges again; whoever runs it should
  // stop the process (sagactl run exits 1).
  std::function<void(const std::string& why)> on_fenced;
};

struct StepStatus {
  std::string name;
  std::optional<std::string> group;
  StepState state = StepState::pending;
  std::uint32_t attempts = 0;
  std::uint32_t compensation_attempts = 0;
  TimeMs started_at = 0;  // 0: not started
  TimeMs finished_at = 0;
  std::string error;
  std::optional<sagas::Json> request;  // the payload the step's command carried
  std::optional<sagas::Json> reply;    // the participant's success reply
};

struct SagaStatus {
  SagaId id;
  std::string saga;
  int version = 0;
  SagaState state = SagaState::running;
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::string error;
  sagas::Json input;
  std::vector<StepStatus> steps;  // definition order, group members in place
};

// A lifecycle event ("saga-started", "step-succeeded", "saga-compensated", ...): written to
// the outbox with the transition that caused it (so published at least once, in order per
// saga), and told to on_event subscribers after that commit.
struct Event {
  SagaId saga_id;
  std::string saga;
  sagas::EventType type = sagas::EventType::saga_started;
  std::string step;  // empty for saga-level events
  std::string detail;
  TimeMs at = 0;
};

// A page of sagas, newest first, and the rows of the state file that could not be read.
struct SagaList {
  std::vector<SagaStatus> sagas;
  std::vector<state::BrokenRow> unreadable;
};

struct StartOptions {
  std::optional<std::string> id;  // idempotent start: a repeated id returns the existing saga
};

struct StartResult {
  SagaId id;
  bool existed = false;  // the id was already in use by a saga of this name
};

// Counters for metrics and tests; they only ever grow.
struct EngineStats {
  std::uint64_t commits = 0;        // transactions
  std::uint64_t transitions = 0;    // committed transitions
  std::uint64_t commit_failures = 0;
  std::uint64_t replies = 0;        // replies received
  std::uint64_t duplicates = 0;     // replies recognised as already applied
  std::uint64_t dead_letters = 0;
  std::uint64_t sends = 0;          // commands handed to the transport (resends included)
  std::uint64_t send_failures = 0;
  std::uint64_t pruned = 0;
  std::uint64_t read_failures = 0;  // reads of the state file that failed (retried)
};

class StoreReads;

// What an engine resumes from (Engine::read_recovery): the unfinished sagas, and the journal's
// entries past the delivered watermark.
struct Recovery {
  std::vector<sagas::Instance> unfinished;
  state::Backlog backlog;
};
// A read of the store (Engine::read_committed): what it does with the store, on a reader
// thread, returning what to do then, on the executor.
using ReadThen = std::function<void()>;
using ReadWork = std::function<ReadThen(StoreReads&)>;

class Engine {
 public:
  Engine(boost::asio::io_context& io, state::Store& store, wire::Transport& transport, Clock& clock,
         EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Compiles and registers the sagas in these files and directories. Definitions that
  // compiled are added even when others failed; the diagnostics say what to fix.
  dsl::LoadResult load(const std::vector<std::filesystem::path>& paths);
  // Registers a compiled definition. A new version of a loaded saga becomes the one new
  // starts use; instances already running keep the version they started with.
  void add(sagas::DefinitionPtr definition);

  // Recovery and start of work: resumes unfinished sagas from the store, re-sends the
  // outbox, re-arms timers, subscribes to the reply topics. Fails (and does nothing) if an
  // unfinished saga's definition version is not loaded.
  Status open();
  // The same from what read_recovery read (on another thread, e.g. where the store was
  // opened, so the executor does not wait for it), with nothing committed to the store since.
  Status open(Recovery recovery);
  // What recovery needs from the store; any thread, before the store's first commit.
  static Result<Recovery> read_recovery(state::Store& store);
  // Commits what is pending, stops consuming, disarms timers. Messages not yet confirmed by
  // the broker stay in the outbox and are sent again by the next open().
  void close();

  // Starts a saga with this input (validated against its schema first). The saga is
  // durable when `on_committed` is called (with ok, or the store's error).
  Result<StartResult> start(const std::string& saga, sagas::Json input, StartOptions options = {},
                            std::function<void(const Status&)> on_committed = {});
  // Aborts a running saga and compensates its finished steps, or resumes the remaining
  // compensations of a failed one. The request is durable when `on_committed` is called.
  Status compensate(const SagaId& id, std::string reason, std::function<void(const Status&)> on_committed = {});

  // not_found when there is no such saga; store when the state file failed or its row is
  // damaged (the message names the saga).
  Result<SagaStatus> status(const SagaId& id);
  // list, count and history commit what is pending first, waiting for the store: what they
  // show is exact. A caller that must not block the loop (the admin API) uses read_committed.
  Result<SagaList> list(const state::ListFilter& filter);
  // Sagas per name, version and state (state::Store::count).
  Result<std::vector<state::StateCount>> count(const state::ListFilter& filter);
  Result<std::vector<state::HistoryRow>> history(const SagaId& id);
  // Calls `then` on the executor once every transition applied before this call is committed
  // (posted at once when none waits), without blocking. If the store is taken over (fenced)
  // first, or the engine closes with them uncommitted, `then` is called then: they never will be.
  void after_commits(std::function<void()> then);
  // Reads the store once every transition applied before this call is committed (as
  // after_commits), off the loop: `work` runs on a thread of its own with a connection of its
  // own (ReadThread) and returns what to do with what it read, which runs on the executor.
  void read_committed(ReadWork work);

  void on_event(std::function<void(const Event&)> subscriber);

  std::vector<sagas::DefinitionPtr> definitions() const;
  const EngineStats& stats() const;
  std::size_t active_sagas() const;  // in memory: unfinished ones only
  std::size_t unconfirmed_sends() const;  // outbox messages awaiting the broker's acknowledgement
  bool store_healthy() const;  // false while a failed commit waits for its retry, or check_store() failed
  std::string store_problem() const;  // why the store is not healthy; empty when it is
  // Asks the store whether it can still take commits (state::Store::check: the state file is
  // the one opened, intact). While it cannot, store_healthy() is false and starts are refused
  // (store). Call it periodically; cheap.
  Status check_store();
  // Readiness: the transport owns its partitions and the replies that waited on them when
  // the engine opened have been applied. Until then no saga timer fires.
  bool ready() const;
  // A batch is on the writer thread and its outcome has yet to come back to the executor. For
  // a caller that drives the io_context by hand (poll()): there is more to wait for.
  bool committing() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A new saga id: a UUID v7 (time-ordered), what an engine gives a saga started without one.
std::string make_saga_id(std::mt19937_64& rng, TimeMs now);

// The id of a start request read from a log that names none (no `saga-id`, no
// `idempotency-key`): a UUID v7 of the record's timestamp whose other bits are a hash of the
// topic, partition, offset and timestamp. The same request read again (after a crash or a
// rebalance, before its offset was committed) gets the same id, so it starts one saga; a
// topic made anew reuses offsets but not timestamps.
std::string start_id_from(const std::string& topic, std::int32_t partition, const wire::Origin& origin);

// Status of an instance under its definition (steps named), for the API and sagactl; with no
// definition, the saga's status without its steps (what `list` shows).
SagaStatus make_status(const sagas::Definition* def, const sagas::Instance& inst);

}  // namespace engine
