#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "engine/commit_writer.h"
#include "engine/outbox.h"
#include "engine/protocol.h"
#include "engine/timer_queues.h"
#include "sagas/machine.h"

namespace saga {

using sagas::CommandKind;
using sagas::DefinitionPtr;
using sagas::Instance;
using sagas::Json;
using sagas::StepIndex;

namespace {

// A UUID v7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. Time-ordered ids
// matter for the store: every table is keyed by saga id, so the sagas in flight (all started
// recently) share the right-most pages of each B-tree, and a group commit rewrites a handful
// of pages instead of one random page per row (v4 ids made commits several times larger).
std::string uuid7(std::mt19937_64& rng, TimeMs now) {
  auto ms = static_cast<std::uint64_t>(now) & 0xffffffffffffULL;
  std::uint64_t r1 = rng();
  std::uint64_t r2 = rng();
  std::uint64_t hi = (ms << 16) | 0x7000ULL | (r1 & 0x0fffULL);            // version 7
  std::uint64_t lo = (r2 & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx", static_cast<unsigned long long>(hi >> 32),
                static_cast<unsigned long long>((hi >> 16) & 0xffff), static_cast<unsigned long long>(hi & 0xffff),
                static_cast<unsigned long long>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

// Saga ids end up in Kafka keys, headers, message ids ("<id>/<step>/...") and file names of
// tools; printable ASCII without spaces keeps them safe everywhere.
std::optional<std::string> check_id(const std::string& id) {
  if (id.empty()) return "a saga id must not be empty";
  if (id.size() > 200) return "a saga id must be at most 200 characters (it has " + std::to_string(id.size()) + ")";
  for (unsigned char c : id) {
    if (c <= 0x20 || c >= 0x7f) {
      return "saga id \"" + id + "\" may only contain printable ASCII characters without spaces";
    }
  }
  return std::nullopt;
}

spdlog::level::level_enum level_of(sagas::EventType event) {
  using sagas::EventType;
  if (sagas::is_warning(event)) return spdlog::level::warn;
  if (event == EventType::saga_started || sagas::is_terminal_event(event)) return spdlog::level::info;
  return spdlog::level::debug;
}

// What accompanies a transition into the batch.
struct Extra {
  bool new_instance = false;
  std::function<void(const Status&)> on_committed;
};

}  // namespace

SagaStatus make_status(const sagas::Definition* def, const Instance& inst) {
  SagaStatus s;
  s.id = SagaId(inst.id);
  s.saga = inst.saga;
  s.version = inst.version;
  s.state = inst.state;
  s.created_at = inst.created_at;
  s.updated_at = inst.updated_at;
  s.error = inst.error;
  s.input = inst.input;
  for (std::size_t i = 0; def != nullptr && i < inst.steps.size() && i < def->steps.size(); ++i) {
    const auto& r = inst.steps[i];
    const auto& st = def->steps[i];
    StepStatus ss;
    ss.name = st.name;
    if (st.group) ss.group = def->group(*st.group).name;
    ss.state = r.state;
    ss.attempts = r.attempts;
    ss.compensation_attempts = r.compensation_attempts;
    ss.started_at = r.started_at;
    ss.finished_at = r.finished_at;
    ss.error = r.error;
    ss.request = r.request;
    ss.reply = r.reply;
    s.steps.push_back(std::move(ss));
  }
  return s;
}

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

  Impl(boost::asio::io_context& io_, state::Store& store_, Transport& transport_, Clock& clock_,
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
  Transport& transport;
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
  std::unordered_set<std::string> touched;  // sagas whose timers need syncing after the commit
  std::optional<InFlight> in_flight;         // set while the writer holds a batch
  // Replies whose saga could not be read (the store failed): tried again after
  // commit_retry_delay, unacknowledged meanwhile, so nothing after them is committed past.
  std::vector<Received> deferred;
  Outbox outbox;                         // sent, delivery not yet confirmed
  state::Position stored_watermark = 0;  // the delivered watermark as last committed
  bool flush_posted = false;
  bool commit_blocked = false;  // a failed commit waits for its retry
  bool clear_outbox_armed = false;  // a commit of delivered outbox ids is due
  bool opened = false;
  bool closed = false;
  std::vector<std::function<void(const Event&)>> subscribers;
  EngineStats stats;
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

  void schedule_flush() {
    if (flush_posted || commit_blocked) return;
    flush_posted = true;
    // Posted, not run now: replies and starts already queued on the executor join this batch.
    boost::asio::post(io, [this] {
      flush_posted = false;
      flush();
    });
  }

  static state::OutboxMessage stored(Message m) {
    return {std::move(m.topic), std::move(m.key), std::move(m.headers), std::move(m.value)};
  }

  // Runs the machine for one event of one saga and queues what it decided. Returns why the
  // event was rejected, if it was.
  std::optional<std::string> apply(Active& a, const sagas::Event& event, Extra extra = {}) {
    sagas::Transition t = sagas::transition(*a.def, a.inst, event, clock.now(), env);
    if (t.rejected) return t.rejected;
    bool no_op = t.records.empty() && t.sends.empty() && t.timers.empty() && t.cancels.empty() &&
                 !t.deadline && !extra.new_instance && t.instance == a.inst;
    if (no_op) return std::nullopt;  // a duplicate: nothing to remember
    std::vector<bool> steps_changed(t.instance.steps.size(), true);
    for (std::size_t i = 0; i < steps_changed.size() && i < a.inst.steps.size(); ++i) {
      steps_changed[i] = !(t.instance.steps[i] == a.inst.steps[i]);
    }
    a.inst = std::move(t.instance);

    state::Commit c;
    c.steps_changed = std::move(steps_changed);
    c.instance = a.inst;
    c.new_instance = extra.new_instance;
    TimeMs now = a.inst.updated_at;
    for (auto& r : t.records) {
      c.history.push_back({now, r.event, r.step ? a.def->step(*r.step).name : std::string(),
                           std::move(r.detail)});
    }
    // The commands, and the lifecycle events (built from the history after the commit), are
    // the entry's messages: sent once it is durable, again after a crash until delivered.
    c.sends = std::move(t.sends);
    pending.commits.push_back(std::move(c));
    pending.followups.push_back({a.def, std::move(extra.on_committed)});
    touched.insert(a.inst.id);
    schedule_flush();
    return std::nullopt;
  }

  // Delivery has moved past what the last commit recorded.
  bool watermark_behind() const { return outbox.watermark() > stored_watermark; }

  // Hands the next batch to the writer thread when it is free; the batch's completion
  // (committed) acts on it and starts the one after. Replies acknowledged and timers synced
  // with no transition to commit wait only for the batch before them.
  void flush() {
    if (commit_blocked || writer->busy()) return;
    if (pending.commits.empty() && !watermark_behind()) {
      if (!pending.acks.empty()) transport.acknowledge(std::exchange(pending.acks, {}));
      sync_timers(std::exchange(touched, {}));
      rearm_clock();
      return;
    }
    std::size_t n = std::min(options.max_batch, pending.commits.size());
    InFlight f;
    f.followups.assign(std::make_move_iterator(pending.followups.begin()),
                       std::make_move_iterator(pending.followups.begin() + static_cast<long>(n)));
    std::vector<state::Commit> batch(std::make_move_iterator(pending.commits.begin()),
                                     std::make_move_iterator(pending.commits.begin() + static_cast<long>(n)));
    pending.commits.erase(pending.commits.begin(), pending.commits.begin() + static_cast<long>(n));
    pending.followups.erase(pending.followups.begin(), pending.followups.begin() + static_cast<long>(n));
    if (pending.commits.empty()) {  // the acks and timers queued so far follow this batch
      f.acks = std::exchange(pending.acks, {});
      f.touched = std::exchange(touched, {});
    }
    in_flight = std::move(f);
    writer->submit(std::move(batch), outbox.watermark());
  }

  // On the executor, once the writer has committed a batch (or failed to).
  void committed(CommitWriter::Outcome o) {
    InFlight f = std::move(*in_flight);
    in_flight.reset();
    std::size_t n = o.batch.size();
    if (!o.status.ok()) {
      ++stats.commit_failures;
      spdlog::error("commit of {} transitions failed, retrying in {} ms: {}", n, options.commit_retry_delay,
                    o.status.message);
      // Back to the front of the queue, in order, to be retried: nothing of it was acted on.
      pending.commits.insert(pending.commits.begin(), std::make_move_iterator(o.batch.begin()),
                             std::make_move_iterator(o.batch.end()));
      pending.followups.insert(pending.followups.begin(), std::make_move_iterator(f.followups.begin()),
                               std::make_move_iterator(f.followups.end()));
      pending.acks.insert(pending.acks.begin(), f.acks.begin(), f.acks.end());
      touched.merge(f.touched);
      commit_blocked = true;
      arm({clock.now() + options.commit_retry_delay, TimerRef{TimerRef::Kind::commit_retry, {}, 0, 0}});
      rearm_clock();
      return;
    }
    ++stats.commits;
    stats.transitions += n;
    if (options.on_commit) options.on_commit(o.seconds, n);
    stored_watermark = std::max(stored_watermark, o.delivered);
    if (n > 0) outbox.committed(o.batch.back().position);
    for (std::size_t i = 0; i < n; ++i) after_commit(o.batch[i], f.followups[i]);
    if (!f.acks.empty()) transport.acknowledge(f.acks);
    sync_timers(f.touched);
    rearm_clock();
    flush();
  }

  // Waits for the batch in flight and commits everything pending, on this thread's time:
  // for close() and for reads that must see every transition applied so far.
  void flush_and_wait() {
    for (;;) {
      writer->drain();
      flush();
      if (!writer->busy()) return;
    }
  }

  // Timers follow the sagas' state in memory; finished sagas leave it.
  void sync_timers(const std::unordered_set<std::string>& ids) {
    for (const auto& id : ids) {
      auto it = active.find(id);
      if (it == active.end()) continue;
      if (sagas::is_terminal(it->second.inst.state)) {
        timers.forget(id);
        active.erase(it);  // finished sagas live on in the store only
      } else {
        timers.sync(it->second.inst);
      }
    }
  }

  // Hands a message of the committed entry at `position` to the transport; it stays in the
  // outbox until the broker confirms it.
  void dispatch(state::Position position, Message msg) {
    std::int64_t token = outbox.add(position, msg);
    send(token, msg);
  }

  void dispatch_events(state::Position position, const std::string& saga_id, const std::string& saga, int version,
                       const std::vector<state::HistoryRow>& history) {
    if (options.events_topic.empty()) return;
    for (const auto& h : history) {
      dispatch(position, protocol::event_message(options.events_topic, saga_id, saga, version, h.event, h.step,
                                                 h.detail, h.at));
    }
  }

  void after_commit(state::Commit& c, Followup& f) {
    for (auto& m : c.messages) dispatch(c.position, Message{std::move(m.topic), std::move(m.key), std::move(m.headers), std::move(m.value)});
    if (c.messages_only) return;
    for (const auto& s : c.sends) dispatch(c.position, protocol::command_message(*f.def, c.instance.id, s));
    dispatch_events(c.position, c.instance.id, c.instance.saga, c.instance.version, c.history);
    for (const auto& h : c.history) {
      Event e{SagaId(c.instance.id), c.instance.saga, h.event, h.step, h.detail, h.at};
      log_event(c.instance, e);
      for (const auto& sub : subscribers) sub(e);
    }
    if (f.on_committed) f.on_committed(Status{});
  }

  void log_event(const Instance& inst, const Event& e) {
    auto level = level_of(e.type);
    if (!spdlog::should_log(level)) return;
    std::uint32_t attempt = 0;
    if (!e.step.empty()) {
      if (auto def = find_def(inst.saga, inst.version); def) {
        if (auto i = def->find_step(e.step)) attempt = inst.steps[i->value()].attempts;
      }
    }
    if (e.step.empty()) {
      spdlog::log(level, "saga={} name={} event={} {}", inst.id, inst.saga, sagas::to_string(e.type), e.detail);
    } else {
      spdlog::log(level, "saga={} name={} step={} attempt={} event={} {}", inst.id, inst.saga, e.step, attempt,
                  sagas::to_string(e.type),
                  e.detail);
    }
  }

  void send(std::int64_t outbox_id, const Message& m) {
    ++stats.sends;
    if (spdlog::should_log(spdlog::level::debug)) {
      const std::string* step = m.header(protocol::header::kStep);
      const std::string* attempt = m.header(protocol::header::kAttempt);
      const std::string* action = m.header(protocol::header::kAction);
      spdlog::debug("saga={} step={} attempt={} send {} to {}", m.key, step ? *step : "-", attempt ? *attempt : "-",
                    action ? *action : "-", m.topic);
    }
    transport.send(outbox_id, m);
  }

  // --- timers ---

  // Engine housekeeping only; saga timers follow the instances (TimerQueues::sync).
  void arm(std::pair<TimeMs, TimerRef> entry) { timers.arm(entry.first, std::move(entry.second)); }

  void rearm_clock() {
    if (closed) return;
    std::optional<TimeMs> next = timers.next_wake();
    if (!next) {
      if (clock_armed_at) clock.cancel();
      clock_armed_at.reset();
      return;
    }
    TimeMs first = *next;
    if (clock_armed_at && *clock_armed_at == first) return;
    clock_armed_at = first;
    clock.wake_at(first, [this] {
      clock_armed_at.reset();
      on_wake();
    });
  }

  void on_wake() {
    TimeMs now = clock.now();
    for (auto& ref : timers.take_due(now)) fire(ref);
    if (timers.needs_catch_up(now)) request_catch_up(now);
    rearm_clock();
  }

  // Due saga timers wait until the replies that stood on the partitions now are applied.
  void request_catch_up(TimeMs now) {
    if (timers.catching_up() || closed) return;
    timers.catch_up_requested();
    transport.catch_up([this, life = std::weak_ptr<int>(life), now] {
      if (life.expired() || closed) return;
      timers.caught_up(now);
      if (!caught_up_once) {
        caught_up_once = true;
        spdlog::info("ready: the replies that waited on the reply topics are applied; timers run");
      }
      on_wake();
    });
  }

  void fire(const TimerRef& ref) {
    switch (ref.kind) {
      case TimerRef::Kind::step: {
        auto it = active.find(ref.saga_id);
        if (it == active.end()) return;
        Active& a = it->second;
        const auto& r = a.inst.steps[ref.step];
        if (!r.timer_at) return;
        std::uint32_t attempt = r.timer_for == CommandKind::execute ? r.attempts : r.compensation_attempts;
        if (auto why = apply(a, sagas::TimerFired{StepIndex(ref.step), r.timer_for, r.timer_kind, sagas::Attempt(attempt)})) {
          spdlog::debug("saga={} step={} timer ignored: {}", ref.saga_id, a.def->steps[ref.step].name, *why);
        }
        touched.insert(ref.saga_id);  // re-arm even if the machine ignored it
        schedule_flush();
        return;
      }
      case TimerRef::Kind::deadline: {
        auto it = active.find(ref.saga_id);
        if (it == active.end()) return;
        if (auto why = apply(it->second, sagas::DeadlineReached{})) {
          spdlog::debug("saga={} deadline ignored: {}", ref.saga_id, *why);
        }
        return;
      }
      case TimerRef::Kind::retention:
        prune();
        return;
      case TimerRef::Kind::resend: {
        if (const Message* m = outbox.find(ref.outbox_id)) send(ref.outbox_id, *m);
        return;
      }
      case TimerRef::Kind::commit_retry:
        commit_blocked = false;
        flush();
        return;
      case TimerRef::Kind::clear_outbox:
        clear_outbox_armed = false;
        flush();
        return;
      case TimerRef::Kind::retry_replies:
        on_receive(std::exchange(deferred, {}));
        return;
    }
  }

  void prune() {
    if (options.retention <= 0) return;
    auto pruned = store.prune(clock.now() - options.retention, options.retention_batch, clock.now());
    if (!pruned) {
      ++stats.read_failures;
      spdlog::error("retention: pruning failed, trying again in {} ms: {}", options.retention_interval,
                    pruned.error().message);
      arm({clock.now() + options.retention_interval, TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
      return;
    }
    std::size_t n = *pruned;
    stats.pruned += n;
    if (n > 0) spdlog::info("retention: pruned {} finished sagas older than {} ms", n, options.retention);
    // A full batch means more are due: continue soon, letting other work run in between.
    TimeMs next = clock.now() + (n == options.retention_batch ? 0 : options.retention_interval);
    arm({next, TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
  }

  // --- transport callbacks ---

  // What became of a received message.
  enum class Handled { done, deferred };

  Handled receive_start(const Received& r) {
    auto request = protocol::parse_start(r.message);
    if (!request) {
      dead_letter(r, request.error().message);
      return Handled::done;
    }
    auto started = start(request->saga, std::move(request->input), StartOptions{request->id}, {});
    if (!started && started.error().code == Errc::store) return store_failed(r, started.error().message);
    if (!started) {
      dead_letter(r, started.error().message);
      return Handled::done;
    }
    spdlog::info("saga={} name={} {} from {}", started->id.value(), request->saga,
                 started->existed ? "already exists: start request ignored" : "start requested", r.message.topic);
    return Handled::done;
  }

  Result<StartResult> start(const std::string& saga, Json input, StartOptions opts,
                            std::function<void(const Status&)> on_committed);

  void dead_letter(const Received& r, const std::string& error) {
    ++stats.dead_letters;
    const std::string* sid = r.message.header(protocol::header::kSagaId);
    spdlog::warn("saga={} reply on {} dead-lettered to {}.dlq: {}", sid ? *sid : "-", r.message.topic,
                 r.message.topic, error);
    // Written to the outbox before the reply is acknowledged: a crash cannot lose it.
    state::Commit c;
    c.messages_only = true;
    c.instance.updated_at = clock.now();
    c.messages.push_back(stored(protocol::dead_letter(r.message, r.message.topic + ".dlq", error)));
    pending.commits.push_back(std::move(c));
    pending.followups.emplace_back();
    schedule_flush();
  }

  void on_receive(std::vector<Received> batch) {
    if (closed) return;
    for (auto& r : batch) {
      Handled h = Handled::done;
      if (!options.start_topic.empty() && r.message.topic == options.start_topic) {
        h = receive_start(r);
      } else {
        ++stats.replies;
        h = receive(r);
      }
      if (h == Handled::deferred) {
        defer(std::move(r));
        continue;
      }
      pending.acks.push_back(r.token);  // acknowledged after the commit of everything before it
    }
    schedule_flush();
  }

  void defer(Received r) {
    if (deferred.empty()) {
      arm({clock.now() + options.commit_retry_delay, TimerRef{TimerRef::Kind::retry_replies, {}, 0, 0}});
      rearm_clock();
    }
    deferred.push_back(std::move(r));
  }

  Handled store_failed(const Received& r, const std::string& why) {
    ++stats.read_failures;
    const std::string* sid = r.message.header(protocol::header::kSagaId);
    spdlog::error("saga={} reading the state file failed; the message on {} is applied after a retry in {} ms: {}",
                  sid ? *sid : "-", r.message.topic, options.commit_retry_delay, why);
    return Handled::deferred;
  }

  // A reply for a saga not in memory: late for a finished or pruned one, or unknown.
  Handled receive_for_stored(const Received& r, const protocol::Reply& reply) {
    auto stored = store.load(reply.saga_id);
    if (!stored) return store_failed(r, stored.error().message);
    if (*stored && sagas::is_terminal((*stored)->state)) {
      ++stats.duplicates;
      spdlog::debug("saga={} step={} late reply ignored: the saga is {}", reply.saga_id, reply.step,
                    sagas::to_string((*stored)->state));
      return Handled::done;
    }
    if (!*stored) {
      auto pruned = store.was_pruned(reply.saga_id);
      if (!pruned) return store_failed(r, pruned.error().message);
      if (*pruned) {
        ++stats.duplicates;
        spdlog::debug("saga={} step={} late reply ignored: the saga finished and was pruned", reply.saga_id, reply.step);
        return Handled::done;
      }
    }
    dead_letter(r, "unknown saga id \"" + reply.saga_id + "\"");
    return Handled::done;
  }

  Handled receive(const Received& r) {
    auto parsed = protocol::parse_reply(r.message);
    if (!parsed) {
      dead_letter(r, parsed.error().message);
      return Handled::done;
    }
    protocol::Reply& reply = *parsed;
    auto it = active.find(reply.saga_id);
    if (it == active.end()) return receive_for_stored(r, reply);
    Active& a = it->second;
    auto step = a.def->find_step(reply.step);
    if (!step) {
      dead_letter(r, "saga " + a.def->name + " has no step \"" + reply.step + "\"");
      return Handled::done;
    }
    // Duplicates are recognised by the machine from the saga's own state (a second reply to
    // one command changes nothing), before a restart and after it alike.
    std::size_t queued = pending.commits.size();
    std::string in_reply_to = reply.in_reply_to;
    auto why = apply(a, sagas::ReplyReceived{*step, reply.kind, std::move(reply.in_reply_to), reply.success,
                                             std::move(reply.body)});
    if (why) {
      dead_letter(r, *why);
    } else if (pending.commits.size() == queued) {
      ++stats.duplicates;
      spdlog::debug("saga={} step={} duplicate reply to {} ignored", reply.saga_id, reply.step, in_reply_to);
    }
    return Handled::done;
  }

  void on_delivery(std::vector<Delivery> deliveries) {
    if (closed) return;
    for (const auto& d : deliveries) {
      const Message* m = outbox.find(d.outbox_id);
      if (m == nullptr) continue;
      if (d.error.empty()) {
        outbox.confirm(d.outbox_id);
        continue;
      }
      ++stats.send_failures;
      spdlog::warn("saga={} send to {} failed, retrying in {} ms: {}", m->key, m->topic, options.resend_delay, d.error);
      arm({clock.now() + options.resend_delay, TimerRef{TimerRef::Kind::resend, {}, 0, d.outbox_id}});
    }
    // The new watermark rides on the next commit, or on one made after outbox_clear_delay.
    if (watermark_behind() && !clear_outbox_armed) {
      clear_outbox_armed = true;
      arm({clock.now() + options.outbox_clear_delay, TimerRef{TimerRef::Kind::clear_outbox, {}, 0, 0}});
    }
    rearm_clock();
  }

  // --- recovery ---

  // Sends again what committed entries after the delivered watermark carry: commands of the
  // sagas still running (a finished saga's outcome is final: its commands are moot), every
  // lifecycle event and dead letter. Returns how many messages.
  std::size_t resend(const state::Backlog& backlog) {
    outbox.committed(backlog.last);
    stored_watermark = backlog.delivered;
    std::size_t before = outbox.in_flight();
    for (const auto& e : backlog.entries) {
      for (const auto& m : e.messages) dispatch(e.position, Message{m.topic, m.key, m.headers, m.value});
      if (e.saga_id.empty()) continue;
      if (auto it = active.find(e.saga_id); it != active.end()) {
        const Active& a = it->second;
        for (const auto& s : e.sends) {
          if (s.step.value() >= a.inst.steps.size()) continue;
          sagas::Json payload = s.kind == CommandKind::execute ? a.inst.steps[s.step.value()].request.value_or(Json())
                                                               : s.payload;
          auto cmd = sagas::make_command(*a.def, e.saga_id, s.step, s.kind, s.attempt, std::move(payload));
          dispatch(e.position, protocol::command_message(*a.def, e.saga_id, cmd));
        }
      }
      dispatch_events(e.position, e.saga_id, e.saga, e.version, e.history);
    }
    return outbox.in_flight() - before;
  }

  Status open() {
    if (opened) return {Errc::conflict, "the engine is already open"};
    auto loaded = store.load_active();
    if (!loaded) return {Errc::store, loaded.error().message};
    auto backlog = store.undelivered();
    if (!backlog) return {Errc::store, backlog.error().message};
    std::vector<Instance> unfinished = std::move(loaded).value();
    std::map<std::pair<std::string, int>, std::size_t> missing;
    for (const auto& inst : unfinished) {
      if (!find_def(inst.saga, inst.version)) ++missing[{inst.saga, inst.version}];
    }
    if (!missing.empty()) {
      std::string what;
      for (const auto& [key, count] : missing) {
        what += (what.empty() ? "" : "; ") + std::to_string(count) + " unfinished saga(s) of " + key.first + " v" +
                std::to_string(key.second);
      }
      return {Errc::unknown_saga, what + " need that definition version: load the files that define it (keep old "
                                          "versions beside new ones until their sagas finish)"};
    }
    transport.set_handlers([this](std::vector<Received> b) { on_receive(std::move(b)); },
                           [this](std::vector<Delivery> d) { on_delivery(std::move(d)); });
    std::vector<std::string> topics = reply_topics();
    if (!options.start_topic.empty()) topics.push_back(options.start_topic);
    if (auto err = transport.subscribe(topics)) return {Errc::transport, *err};
    for (auto& inst : unfinished) {
      DefinitionPtr def = find_def(inst.saga, inst.version);
      std::string id = inst.id;
      Active& a = active.emplace(id, Active{def, std::move(inst)}).first->second;
      timers.sync(a.inst);
    }
    std::size_t resent = resend(*backlog);
    if (!unfinished.empty() || resent > 0) {
      spdlog::info("recovered {} unfinished sagas; re-sent {} unconfirmed messages", unfinished.size(), resent);
    }
    if (options.retention > 0) arm({clock.now(), TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
    opened = true;
    request_catch_up(clock.now());
    rearm_clock();
    return {};
  }

  void close() {
    if (closed) return;
    commit_blocked = false;  // one last attempt
    flush_and_wait();
    if (!pending.empty()) {
      spdlog::error("closing with {} uncommitted transitions (the store failed); they are lost, and the "
                    "sagas resume from their last commit on the next start",
                    pending.commits.size());
    }
    closed = true;
    transport.close();
    clock.cancel();
    timers.clear();
    active.clear();
  }
};

Engine::Engine(boost::asio::io_context& io, state::Store& store, Transport& transport, Clock& clock,
               EngineOptions options)
    : impl_(std::make_unique<Impl>(io, store, transport, clock, std::move(options))) {}

Engine::~Engine() {
  // No flush here: an engine destroyed without close() behaves like a crash (tests rely on
  // it), and the transport must simply stop calling into it.
  impl_->transport.set_handlers({}, {});
  impl_->clock.cancel();
}

dsl::LoadResult Engine::load(const std::vector<std::filesystem::path>& paths) {
  dsl::LoadResult r = dsl::load(paths);
  for (const auto& d : r.definitions) add(d);
  return r;
}

void Engine::add(sagas::DefinitionPtr definition) {
  bool new_topic = true;
  for (const auto& t : impl_->reply_topics()) new_topic = new_topic && t != definition->reply_topic;
  impl_->defs[definition->name][definition->version] = definition;
  if (impl_->opened && new_topic) {
    if (auto err = impl_->transport.subscribe({definition->reply_topic})) {
      spdlog::error("cannot consume reply topic {} of saga {}: {}", definition->reply_topic, definition->name, *err);
    }
  }
}

Status Engine::open() { return impl_->open(); }
void Engine::close() { impl_->close(); }

Result<StartResult> Engine::Impl::start(const std::string& saga, Json input, StartOptions start_options,
                                  std::function<void(const Status&)> on_committed) {
  auto& d = *this;
  if (d.closed || !d.opened) return Status{Errc::closed, "the engine is not open: call open() first"};
  auto it = d.defs.find(saga);
  if (it == d.defs.end()) {
    return Status{Errc::unknown_saga, "no saga named \"" + saga + "\" is loaded (loaded: " + d.loaded_names() + ")"};
  }
  DefinitionPtr def = it->second.rbegin()->second;
  if (def->input) {
    auto violations = sagas::validate(*def->input, input);
    if (!violations.empty()) {
      std::string msg = "the input does not match the schema of " + saga + ":";
      for (const auto& v : violations) msg += "\n  " + v.path + ": " + v.message;
      return Status{Errc::invalid_input, msg};
    }
  }
  std::string id;
  if (start_options.id) {
    id = *start_options.id;
    if (auto bad = check_id(id)) return Status{Errc::invalid_input, *bad};
    std::optional<std::string> existing_saga;
    if (auto a = d.active.find(id); a != d.active.end()) {
      existing_saga = a->second.inst.saga;
    } else {
      auto stored = d.store.load(id);
      if (!stored) return Status{Errc::store, stored.error().message};
      if (*stored) existing_saga = (*stored)->saga;
    }
    if (existing_saga) {
      if (*existing_saga != saga) {
        return Status{Errc::conflict, "saga id \"" + id + "\" is already used by a " + *existing_saga +
                                          " saga; choose another id"};
      }
      if (on_committed) on_committed(Status{});
      return StartResult{SagaId(id), true};
    }
  } else {
    id = d.options.new_id ? d.options.new_id() : uuid7(d.rng, d.clock.now());
  }
  Active& a =
      d.active.emplace(id, Active{def, sagas::new_instance(*def, id, std::move(input), d.clock.now())})
          .first->second;
  if (auto why = d.apply(a, sagas::Started{}, Extra{true, std::move(on_committed)})) {
    d.active.erase(id);
    return Status{Errc::conflict, *why};
  }
  return StartResult{SagaId(id), false};
}

Result<StartResult> Engine::start(const std::string& saga, Json input, StartOptions options,
                                  std::function<void(const Status&)> on_committed) {
  return impl_->start(saga, std::move(input), std::move(options), std::move(on_committed));
}

Status Engine::compensate(const SagaId& id, std::string reason) {
  auto& d = *impl_;
  if (d.closed || !d.opened) return {Errc::closed, "the engine is not open: call open() first"};
  auto it = d.active.find(id.value());
  if (it == d.active.end()) {
    auto loaded = d.store.load(id.value());
    if (!loaded) return {Errc::store, loaded.error().message};
    auto& stored = *loaded;
    if (!stored) return {Errc::not_found, "no saga with id \"" + id.value() + "\""};
    DefinitionPtr def = d.find_def(stored->saga, stored->version);
    if (!def) {
      return {Errc::unknown_saga, "saga " + id.value() + " is " + stored->saga + " v" +
                                      std::to_string(stored->version) + ", which is not loaded: load its file"};
    }
    if (stored->state != SagaState::failed) {
      return {Errc::conflict,
              "saga " + id.value() + " has already finished (" + std::string(sagas::to_string(stored->state)) + ")"};
    }
    it = d.active.emplace(id.value(), Impl::Active{def, std::move(*stored)}).first;
  }
  if (auto why = d.apply(it->second, sagas::CompensateRequested{std::move(reason)})) {
    if (sagas::is_terminal(it->second.inst.state)) d.active.erase(it);
    return {Errc::conflict, *why};
  }
  return {};
}

Result<SagaStatus> Engine::status(const SagaId& id) {
  auto& d = *impl_;
  if (auto it = d.active.find(id.value()); it != d.active.end()) {
    return make_status(it->second.def.get(), it->second.inst);
  }
  auto stored = d.store.load(id.value());
  if (!stored) return Status{Errc::store, stored.error().message};
  if (!*stored) return Status{Errc::not_found, "no saga with id \"" + id.value() + "\""};
  // Without its definition the step names are unknown: the status has no steps.
  return make_status(d.find_def((*stored)->saga, (*stored)->version).get(), **stored);
}

Result<SagaList> Engine::list(const state::ListFilter& filter) {
  // Commit first, so the list is what the store holds and newest-first ordering is exact.
  impl_->flush_and_wait();
  auto listed = impl_->store.list(filter);
  if (!listed) return Status{Errc::store, listed.error().message};
  SagaList out;
  for (const auto& inst : listed->sagas) out.sagas.push_back(make_status(nullptr, inst));
  out.unreadable = std::move(listed->unreadable);
  return out;
}

Result<std::vector<state::HistoryRow>> Engine::history(const SagaId& id) {
  impl_->flush_and_wait();
  auto rows = impl_->store.history(id.value());
  if (!rows) return Status{Errc::store, rows.error().message};
  return std::move(rows).value();
}

void Engine::on_event(std::function<void(const Event&)> subscriber) {
  impl_->subscribers.push_back(std::move(subscriber));
}

std::vector<sagas::DefinitionPtr> Engine::definitions() const {
  std::vector<sagas::DefinitionPtr> out;
  for (const auto& [name, versions] : impl_->defs) {
    for (const auto& [v, def] : versions) out.push_back(def);
  }
  return out;
}

const EngineStats& Engine::stats() const { return impl_->stats; }
std::size_t Engine::active_sagas() const { return impl_->active.size(); }
std::size_t Engine::unconfirmed_sends() const { return impl_->outbox.in_flight(); }
bool Engine::store_healthy() const { return !impl_->commit_blocked; }
bool Engine::committing() const { return impl_->writer->busy(); }
bool Engine::ready() const { return impl_->caught_up_once && impl_->transport.ready(); }

}  // namespace saga
