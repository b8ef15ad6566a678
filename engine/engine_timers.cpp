// The clock, the catch-up barrier, timers and retention (engine_impl.h).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"

namespace engine {

void Engine::Impl::rearm_clock() {
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

void Engine::Impl::on_wake() {
  TimeMs now = clock.now();
  for (auto& ref : timers.take_due(now)) fire(ref);
  if (timers.needs_catch_up(now)) request_catch_up(now);
  rearm_clock();
}

void Engine::Impl::request_catch_up(TimeMs now) {
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

void Engine::Impl::fire(const TimerRef& ref) {
  switch (ref.kind) {
    case TimerRef::Kind::step: {
      auto it = active.find(ref.saga_id);
      if (it == active.end()) return;
      Active& a = it->second;
      const auto& r = a.inst.steps[ref.step];
      if (!r.timer_at) return;
      std::uint32_t attempt = r.timer_for == CommandKind::execute ? r.attempts : r.compensation_attempts;
      auto applied = apply(a, sagas::TimerFired{StepIndex(ref.step), r.timer_for, r.timer_kind, sagas::Attempt(attempt)});
      if (!applied) {
        spdlog::debug("saga={} step={} timer ignored: {}", ref.saga_id, a.def->steps[ref.step].name, applied.error());
      }
      touched.insert(ref.saga_id);  // re-arm even if the machine ignored it
      schedule_flush();
      return;
    }
    case TimerRef::Kind::deadline: {
      auto it = active.find(ref.saga_id);
      if (it == active.end()) return;
      if (auto applied = apply(it->second, sagas::DeadlineReached{}); !applied) {
        spdlog::debug("saga={} deadline ignored: {}", ref.saga_id, applied.error());
      }
      return;
    }
    case TimerRef::Kind::retention:
      prune();
      return;
    case TimerRef::Kind::resend: {
      if (const wire::Message* m = outbox.find(ref.outbox_id)) send(ref.outbox_id, *m);
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

// On the writer thread, between commits: the loop goes on meanwhile, and the store prunes on
// its committing connection.
void Engine::Impl::prune() {
  if (options.retention <= 0) return;
  auto result = std::make_shared<state::Result<std::size_t>>(std::size_t{0});
  TimeMs now = clock.now();
  bool taken = writer->run_task(
      [this, result, now] { *result = store.prune(now - options.retention, options.retention_batch, now); },
      [this, result] {
        pruned(*result);
        flush();  // what waited for the writer
      });
  if (!taken) arm({clock.now() + options.retention_interval, TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
}

void Engine::Impl::pruned(const state::Result<std::size_t>& result) {
  if (!result) {
    ++stats.read_failures;
    spdlog::error("retention: pruning failed, trying again in {} ms: {}", options.retention_interval,
                  result.error().message);
    arm({clock.now() + options.retention_interval, TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
    rearm_clock();
    return;
  }
  std::size_t n = *result;
  stats.pruned += n;
  if (n > 0) spdlog::info("retention: pruned {} finished sagas older than {} ms", n, options.retention);
  // A full batch means more are due: continue soon, letting other work run in between.
  TimeMs next = clock.now() + (n == options.retention_batch ? 0 : options.retention_interval);
  arm({next, TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
  rearm_clock();
}

}  // namespace engine
