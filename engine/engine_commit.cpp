// The pending batch, the commit on the writer thread and what follows it (engine_impl.h).
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <chrono>

#include "engine/engine_impl.h"

namespace engine {

namespace {

spdlog::level::level_enum level_of(sagas::EventType event) {
  using sagas::EventType;
  if (sagas::is_warning(event)) return spdlog::level::warn;
  if (event == EventType::saga_started || sagas::is_terminal_event(event)) return spdlog::level::info;
  return spdlog::level::debug;
}

}  // namespace

void Engine::Impl::schedule_flush() {
  if (flush_posted || commit_blocked) return;
  flush_posted = true;
  // Posted, not run now: replies and starts already queued on the executor join this batch.
  boost::asio::post(io, [this] {
    flush_posted = false;
    flush();
  });
}

sagas::Result<Engine::Impl::Applied, std::string> Engine::Impl::apply(Active& a, const sagas::Event& event,
                                                                      Extra extra) {
  sagas::Transition t = sagas::transition(*a.def, a.inst, event, clock.now(), env);
  if (t.rejected) return std::move(*t.rejected);
  if (t.unchanged) return Applied::unchanged;  // nothing to remember
  state::Commit c;
  c.steps_changed.assign(t.instance.steps.size(), true);
  for (std::size_t i = 0; i < c.steps_changed.size() && i < a.inst.steps.size(); ++i) {
    c.steps_changed[i] = !(t.instance.steps[i] == a.inst.steps[i]);
  }
  a.inst = std::move(t.instance);

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
  return Applied::queued;
}

void Engine::Impl::flush() {
  if (commit_blocked || writer->busy()) return;
  if (pending.commits.empty() && !watermark_behind()) {
    if (!pending.acks.empty()) transport.acknowledge(std::exchange(pending.acks, {}));
    sync_timers(std::exchange(touched, {}));
    rearm_clock();
    return;
  }
  std::size_t n = std::min(options.max_batch, pending.commits.size());
  InFlight f;
  std::vector<state::Commit> batch;
  if (n == pending.commits.size()) {  // the usual case: all of it, handed over whole
    batch.swap(pending.commits);
    f.followups.swap(pending.followups);
    pending.commits.swap(spare_commits);
    pending.followups.swap(spare_followups);
  } else {
    f.followups.assign(std::make_move_iterator(pending.followups.begin()),
                       std::make_move_iterator(pending.followups.begin() + static_cast<long>(n)));
    batch.assign(std::make_move_iterator(pending.commits.begin()),
                 std::make_move_iterator(pending.commits.begin() + static_cast<long>(n)));
    pending.commits.erase(pending.commits.begin(), pending.commits.begin() + static_cast<long>(n));
    pending.followups.erase(pending.followups.begin(), pending.followups.begin() + static_cast<long>(n));
  }
  if (pending.commits.empty()) {  // the acks and timers queued so far follow this batch
    f.acks = std::exchange(pending.acks, {});
    f.touched = std::exchange(touched, {});
  }
  in_flight = std::move(f);
  writer->submit(std::move(batch), outbox.watermark());
}

void Engine::Impl::committed(CommitWriter::Outcome o) {
  InFlight f = std::move(*in_flight);
  in_flight.reset();
  std::size_t n = o.batch.size();
  if (!o.status.ok() && o.status.code == state::Errc::locked) {
    // Not retried: every later commit would be refused the same way, and nothing of this one
    // was acted on. The new owner runs these sagas from what the store holds.
    ++stats.commit_failures;
    fenced = commit_blocked = true;
    commit_error = o.status.message;
    spdlog::critical("this orchestrator no longer owns its store and stops committing: {}", o.status.message);
    give_up(f.followups, from_store(o.status));
    give_up(pending.followups, from_store(o.status));
    if (options.on_fenced) options.on_fenced(o.status.message);
    return;
  }
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
    commit_error = o.status.message;
    arm({clock.now() + options.commit_retry_delay, TimerRef{TimerRef::Kind::commit_retry, {}, 0, 0}});
    rearm_clock();
    return;
  }
  ++stats.commits;
  commit_error.clear();
  stats.transitions += n;
  if (options.on_commit) options.on_commit(o.seconds, n);
  stored_watermark = std::max(stored_watermark, o.delivered);
  if (n > 0) outbox.committed(o.batch.back().position);
  for (std::size_t i = 0; i < n; ++i) after_commit(o.batch[i], f.followups[i]);
  if (!f.acks.empty()) transport.acknowledge(f.acks);
  sync_timers(f.touched);
  o.batch.clear();
  f.followups.clear();
  if (o.batch.capacity() > spare_commits.capacity()) spare_commits.swap(o.batch);
  if (f.followups.capacity() > spare_followups.capacity()) spare_followups.swap(f.followups);
  rearm_clock();
  flush();
}

void Engine::Impl::give_up(std::vector<Followup>& followups, const Status& why) {
  for (auto& f : followups) {
    if (auto waiting = std::exchange(f.on_committed, nullptr)) waiting(why);
  }
}

void Engine::Impl::flush_and_wait() {
  for (;;) {
    writer->drain();
    flush();
    if (!writer->busy()) return;
  }
}

void Engine::Impl::sync_timers(const std::unordered_set<std::string>& ids) {
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

void Engine::Impl::dispatch(state::Position position, wire::Message msg) {
  // The outbox keeps the message until the broker has it (to send it again): moved there,
  // and sent from there.
  std::int64_t token = outbox.add(position, std::move(msg));
  send(token, *outbox.find(token));
}

void Engine::Impl::after_commit(state::Commit& c, Followup& f) {
  for (auto& m : c.messages) dispatch(c.position, message_of(std::move(m)));
  if (!c.messages_only) {
    for (const auto& s : c.sends) dispatch(c.position, wire::command_message(*f.def, c.instance.id, s));
    dispatch_events(c.position, c.instance.id, c.instance.saga, c.instance.version, c.history);
    for (const auto& h : c.history) {
      log_event(c.instance, h);
      if (subscribers.empty()) continue;
      Event e{SagaId(c.instance.id), c.instance.saga, h.event, h.step, h.detail, h.at};
      for (const auto& sub : subscribers) sub(e);
    }
  }
  // A dead letter's too: after_commits may wait on it.
  if (f.on_committed) f.on_committed(Status{});
}

void Engine::Impl::log_event(const Instance& inst, const state::HistoryRow& e) {
  auto level = level_of(e.event);
  if (!spdlog::should_log(level)) return;
  std::uint32_t attempt = 0;
  if (!e.step.empty()) {
    if (auto def = find_def(inst.saga, inst.version); def) {
      if (auto i = def->find_step(e.step)) attempt = inst.steps[i->value()].attempts;
    }
  }
  if (e.step.empty()) {
    spdlog::log(level, "saga={} name={} event={} {}", inst.id, inst.saga, sagas::to_string(e.event), e.detail);
  } else {
    spdlog::log(level, "saga={} name={} step={} attempt={} event={} {}", inst.id, inst.saga, e.step, attempt,
                sagas::to_string(e.event), e.detail);
  }
}

void Engine::Impl::send(std::int64_t outbox_id, const wire::Message& m) {
  ++stats.sends;
  if (spdlog::should_log(spdlog::level::debug)) {
    const std::string* step = m.header(wire::header::kStep);
    const std::string* attempt = m.header(wire::header::kAttempt);
    const std::string* action = m.header(wire::header::kAction);
    spdlog::debug("saga={} step={} attempt={} send {} to {}", m.key, step ? *step : "-", attempt ? *attempt : "-",
                  action ? *action : "-", m.topic);
  }
  transport.send(outbox_id, m);
}

}  // namespace engine
