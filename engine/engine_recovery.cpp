// Opening (recovery) and closing the engine (engine_impl.h).
#include <spdlog/spdlog.h>

#include "engine/engine_impl.h"

namespace engine {

std::size_t Engine::Impl::resend(const state::Backlog& backlog) {
  outbox.committed(backlog.last);
  stored_watermark = backlog.delivered;
  std::size_t before = outbox.in_flight();
  for (const auto& e : backlog.entries) {
    for (const auto& m : e.messages) dispatch(e.position, message_of(m));
    if (e.saga_id.empty()) continue;
    if (auto it = active.find(e.saga_id); it != active.end()) {
      const Active& a = it->second;
      for (const auto& s : e.sends) {
        if (s.step.value() >= a.inst.steps.size()) continue;
        sagas::SharedJson payload = s.kind == CommandKind::execute ? a.inst.steps[s.step.value()].request : s.payload;
        auto cmd = sagas::make_command(*a.def, e.saga_id, s.step, s.kind, s.attempt, std::move(payload));
        const sagas::StepRecord& step = a.inst.steps[s.step.value()];
        if (step.timer_at && step.timer_kind == sagas::TimerKind::attempt_timeout && step.timer_for == s.kind) {
          cmd.expires_at = *step.timer_at;  // the attempt's deadline, as recovery re-arms it
        }
        dispatch(e.position, wire::command_message(*a.def, e.saga_id, cmd));
      }
    }
    dispatch_events(e.position, e.saga_id, e.saga, e.version, e.history);
  }
  return outbox.in_flight() - before;
}

Status Engine::Impl::open(Recovery recovery) {
  if (opened) return {Errc::conflict, "the engine is already open"};
  std::vector<Instance>& unfinished = recovery.unfinished;
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
  transport.set_handlers([this](std::vector<wire::Received> b) { on_receive(std::move(b)); },
                         [this](std::vector<wire::Delivery> d) { on_delivery(std::move(d)); });
  std::vector<std::string> topics = reply_topics();
  if (!options.start_topic.empty()) topics.push_back(options.start_topic);
  if (auto err = transport.subscribe(topics)) return {Errc::transport, *err};
  for (auto& inst : unfinished) {
    DefinitionPtr def = find_def(inst.saga, inst.version);
    std::string id = inst.id;
    Active& a = active.emplace(id, Active{def, std::move(inst)}).first->second;
    timers.sync(a.inst);
  }
  std::size_t resent = resend(recovery.backlog);
  if (!unfinished.empty() || resent > 0) {
    spdlog::info("recovered {} unfinished sagas; re-sent {} unconfirmed messages", unfinished.size(), resent);
  }
  if (options.retention > 0) arm({clock.now(), TimerRef{TimerRef::Kind::retention, {}, 0, 0}});
  opened = true;
  request_catch_up(clock.now());
  rearm_clock();
  return {};
}

void Engine::Impl::close() {
  if (closed) return;
  commit_blocked = fenced;  // one last attempt, unless another owner has the store
  flush_and_wait();
  if (!pending.empty()) {
    spdlog::error("closing with {} uncommitted transitions (the store failed); they are lost, and the "
                  "sagas resume from their last commit on the next start",
                  pending.commits.size());
    give_up(pending.followups, {Errc::closed, "the orchestrator closed before this was committed (the store failed): "
                                              "it was not done"});
  }
  closed = true;
  transport.close();
  clock.cancel();
  timers.clear();
  active.clear();
}

}  // namespace engine
