// Engine::Impl: the orchestrator's state and the pieces that act on it (internal to engine/).
// One struct, owned by the executor's thread, whose member functions live beside the seam they
// belong to:
//   engine_commit.cpp    the pending batch, the writer's outcome, dispatch after the commit
//   engine_receive.cpp   replies, start requests, dead letters, delivery reports
//   engine_timers.cpp    the clock, the catch-up barrier, saga and housekeeping timers, retention
//   engine_recovery.cpp  open (recovery, the backlog of undelivered entries) and close
//   engine.cpp           the public API (start, compensate, queries)
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/commit_writer.h"
#include "engine/engine.h"
#include "engine/outbox.h"
#include "engine/read_thread.h"
#include "engine/store_reads.h"
#include "wire/protocol.h"
#include "engine/timer_queues.h"
#include "sagas/machine.h"

namespace engine {

using sagas::CommandKind;
using sagas::DefinitionPtr;
using sagas::Instance;
using sagas::Json;
using sagas::StepIndex;

// What accompanies a transition into the batch.
struct Extra {
  bool new_instance = false;
  std::function<void(const Status&)> on_committed;
};

struct Engine::Impl {
  struct Active {
    DefinitionPtr def;
    Instance inst;
  };

  // What the engine does once a commit is durable, beside sending the entry's messages.
  struct Followup {
    DefinitionPtr def;  // null for a dead letter
    std::function<void(const Status&)> on_committed;
  };

  // Transitions applied in memory, waiting for the next commit, and what follows it.
  struct Pending {
    std::vector<state::Commit> commits;
    std::vector<Followup> followups;   // parallel to commits
    std::vector<std::uint64_t> acks;   // replies to acknowledge after
    bool empty() const { return commits.empty() && acks.empty(); }
  };

  // The batch the writer thread is committing, and what follows its commit.
  struct InFlight {
    std::vector<Followup> followups;         // parallel to the batch
    std::vector<std::uint64_t> acks;         // replies queued before the batch's last transition
    std::unordered_set<std::string> touched;  // sagas whose timers follow the batch
  };

  Impl(boost::asio::io_context& io_, state::Store& store_, wire::Transport& transport_, Clock& clock_,
       EngineOptions options_)
      : io(io_), store(store_), transport(transport_), clock(clock_), options(std::move(options_)),
        rng(std::random_device{}()) {
    if (options.random) {
      env.random = options.random;
    } else {
      env.random = [this] { return std::uniform_real_distribution<double>(0.0, 1.0)(rng); };
    }
    writer = std::make_unique<CommitWriter>(io, store, [this](CommitWriter::Outcome o) { committed(std::move(o)); });
  }

  boost::asio::io_context& io;
  state::Store& store;
  wire::Transport& transport;
  Clock& clock;
  EngineOptions options;
  std::mt19937_64 rng;
  sagas::Environment env;

  std::map<std::string, std::map<int, DefinitionPtr>> defs;  // name -> version -> definition
  std::unordered_map<std::string, Active> active;
  TimerQueues timers;
  std::optional<TimeMs> clock_armed_at;
  bool caught_up_once = false;  // readiness: the first barrier after open() completed
  std::shared_ptr<int> life = std::make_shared<int>(0);  // callbacks held by the transport check it
  Pending pending;
  // A committed batch's emptied vectors, kept for the next batch: a batch of hundreds of
  // transitions is a large block, and allocating one per commit costs the heap a
  // consolidation each time.
  std::vector<state::Commit> spare_commits;
  std::vector<Followup> spare_followups;
  std::unordered_set<std::string> touched;  // sagas whose timers need syncing after the commit
  std::optional<InFlight> in_flight;         // set while the writer holds a batch
  // Replies whose saga could not be read (the store failed): tried again after
  // commit_retry_delay, unacknowledged meanwhile, so nothing after them is committed past.
  std::vector<wire::Received> deferred;
  Outbox outbox;                         // sent, delivery not yet confirmed
  state::Position stored_watermark = 0;  // the delivered watermark as last committed
  bool flush_posted = false;
  bool commit_blocked = false;  // a failed commit waits for its retry
  bool fenced = false;          // another owner took the store over: nothing is committed again
  std::string commit_error;     // the last commit's failure, until a commit succeeds
  std::string file_problem;     // what the store's last check() found, until one passes
  // Why the store cannot take commits now; empty when it can.
  std::string store_problem() const {
    if (!file_problem.empty()) return file_problem;
    if (!commit_error.empty()) return commit_error;
    return commit_blocked ? "a commit failed and waits for its retry" : "";
  }
  bool clear_outbox_armed = false;  // a commit of delivered outbox ids is due
  bool opened = false;
  bool closed = false;
  std::vector<std::function<void(const Event&)>> subscribers;
  EngineStats stats;
  StoreReads reads{store, [this](const std::string& name, int version) { return find_def(name, version).get(); }};
  ReadThread reader{io, store};  // read_committed's reads
  // Last: destroyed first, so no commit outlives the engine (its thread is joined).
  std::unique_ptr<CommitWriter> writer;

  // --- definitions ---

  DefinitionPtr find_def(const std::string& name, int version) const {
    auto it = defs.find(name);
    if (it == defs.end()) return nullptr;
    auto v = it->second.find(version);
    return v == it->second.end() ? nullptr : v->second;
  }

  std::vector<std::string> reply_topics() const {
    std::set<std::string> topics;
    for (const auto& [name, versions] : defs) {
      for (const auto& [v, d] : versions) topics.insert(d->reply_topic);
    }
    return {topics.begin(), topics.end()};
  }

  std::string loaded_names() const {
    std::string out;
    for (const auto& [name, versions] : defs) out += (out.empty() ? "" : ", ") + name;
    return out.empty() ? "none" : out;
  }

  // --- the pending batch and the commit ---

  void schedule_flush();

  // A message as the journal keeps it verbatim (dead letters), and back.
  static state::OutboxMessage stored(wire::Message m) {
    return {std::move(m.topic), std::move(m.key), std::move(m.headers), std::move(m.value)};
  }
  static wire::Message message_of(state::OutboxMessage m) {
    return {std::move(m.topic), std::move(m.key), std::move(m.headers), std::move(m.value)};
  }

  // What applying an event did: queued a transition, or nothing (the machine recognised the
  // event as already accounted for: a duplicate reply, a stale timer).
  enum class Applied { queued, unchanged };

  // Runs the machine for one event of one saga and queues what it decided. An error is why
  // the machine rejected the event.
  sagas::Result<Applied, std::string> apply(Active& a, const sagas::Event& event, Extra extra = {});

  // Delivery has moved past what the last commit recorded.
  bool watermark_behind() const { return outbox.watermark() > stored_watermark; }

  // Hands the next batch to the writer thread when it is free; the batch's completion
  // (committed) acts on it and starts the one after. Replies acknowledged and timers synced
  // with no transition to commit wait only for the batch before them.
  void flush();

  // On the executor, once the writer has committed a batch (or failed to).
  void committed(CommitWriter::Outcome o);

  // Waits for the batch in flight and commits everything pending, on this thread's time:
  // for close() and for reads that must see every transition applied so far.
  void flush_and_wait();

  // These transitions will never be committed (the store was taken over, or the engine
  // closes after a failure): whoever waits on them hears why, once.
  void give_up(std::vector<Followup>& followups, const Status& why);

  // Timers follow the sagas' state in memory; finished sagas leave it.
  void sync_timers(const std::unordered_set<std::string>& ids);

  // Hands a message of the committed entry at `position` to the transport; it stays in the
  // outbox until the broker confirms it.
  void dispatch(state::Position position, wire::Message msg);

  void dispatch_events(state::Position position, const std::string& saga_id, const std::string& saga, int version,
                       std::span<const state::HistoryRow> history) {
    if (options.events_topic.empty()) return;
    for (const auto& h : history) {
      dispatch(position, wire::event_message(options.events_topic, saga_id, saga, version, h.event, h.step,
                                                 h.detail, h.at));
    }
  }

  void after_commit(state::Commit& c, Followup& f);

  void log_event(const Instance& inst, const state::HistoryRow& e);

  void send(std::int64_t outbox_id, const wire::Message& m);

  // --- timers ---

  // Engine housekeeping only; saga timers follow the instances (TimerQueues::sync).
  void arm(std::pair<TimeMs, TimerRef> entry) { timers.arm(entry.first, std::move(entry.second)); }

  void rearm_clock();

  void on_wake();

  // Due saga timers wait until the replies that stood on the partitions now are applied.
  void request_catch_up(TimeMs now);

  void fire(const TimerRef& ref);

  void prune();
  void pruned(const state::Result<std::size_t>& result);  // the prune task's outcome, on the loop

  // --- transport callbacks ---

  // What became of a received message.
  enum class Handled { done, deferred };

  Handled receive_start(const wire::Received& r);

  Result<StartResult> start(const std::string& saga, Json input, StartOptions opts,
                            std::function<void(const Status&)> on_committed);

  void dead_letter(const wire::Received& r, const std::string& error);
  // To `topic`.dlq: a start handed on by a cluster node goes where its start topic's dead letters go.
  void dead_letter(const wire::Received& r, const std::string& error, const std::string& topic);

  void on_receive(std::vector<wire::Received> batch);

  void defer(wire::Received r);

  Handled store_failed(const wire::Received& r, const std::string& why);

  // A reply for a saga not in memory: late for a finished or pruned one, or unknown.
  Handled receive_for_stored(const wire::Received& r, const wire::Reply& reply);

  Handled receive(const wire::Received& r);

  void on_delivery(std::vector<wire::Delivery> deliveries);
  void refused(std::int64_t outbox_id, const std::string& error);
  std::optional<std::string> oversized_command(const sagas::Definition& def, const Json& input) const;

  // --- recovery ---

  // Sends again what committed entries after the delivered watermark carry: commands of the
  // sagas still running (a finished saga's outcome is final: its commands are moot), every
  // lifecycle event and dead letter. Returns how many messages.
  std::size_t resend(const state::Backlog& backlog);

  Status open(Recovery recovery);

  void close();
};

}  // namespace engine
