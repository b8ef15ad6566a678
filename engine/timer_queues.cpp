#include "engine/timer_queues.h"

#include <algorithm>

namespace engine {

void TimerQueues::sync(const sagas::Instance& inst) {
  Armed& a = armed_.try_emplace(inst.id, Armed{{}, saga_.end()}).first->second;
  a.steps.resize(inst.steps.size(), saga_.end());
  for (std::size_t i = 0; i < inst.steps.size(); ++i) {
    auto& it = a.steps[i];
    const auto& want = inst.steps[i].timer_at;
    if (it != saga_.end() && want && it->first == *want) continue;
    if (it != saga_.end()) saga_.erase(it);
    it = want ? saga_.insert({*want, TimerRef{TimerRef::Kind::step, inst.id, i, 0}}) : saga_.end();
  }
  std::optional<TimeMs> deadline;
  if (inst.state == sagas::SagaState::running) deadline = inst.deadline_at;
  if (a.deadline != saga_.end() && deadline && a.deadline->first == *deadline) return;
  if (a.deadline != saga_.end()) saga_.erase(a.deadline);
  a.deadline = deadline ? saga_.insert({*deadline, TimerRef{TimerRef::Kind::deadline, inst.id, 0, 0}}) : saga_.end();
}

void TimerQueues::forget(const std::string& saga_id) {
  auto found = armed_.find(saga_id);
  if (found == armed_.end()) return;
  for (auto it : found->second.steps) {
    if (it != saga_.end()) saga_.erase(it);
  }
  if (found->second.deadline != saga_.end()) saga_.erase(found->second.deadline);
  armed_.erase(found);
}

std::vector<TimerRef> TimerQueues::take_due(TimeMs now) {
  std::vector<TimerRef> due;
  while (!internal_.empty() && internal_.begin()->first <= now) {
    due.push_back(std::move(internal_.begin()->second));
    internal_.erase(internal_.begin());
  }
  while (!saga_.empty() && saga_.begin()->first <= std::min(now, caught_up_at_)) {
    TimerRef ref = std::move(saga_.begin()->second);
    if (auto a = armed_.find(ref.saga_id); a != armed_.end()) {
      if (ref.kind == TimerRef::Kind::step) {
        a->second.steps[ref.step] = saga_.end();
      } else {
        a->second.deadline = saga_.end();
      }
    }
    saga_.erase(saga_.begin());
    due.push_back(std::move(ref));
  }
  return due;
}

std::optional<TimeMs> TimerQueues::next_wake() const {
  std::optional<TimeMs> next;
  if (!internal_.empty()) next = internal_.begin()->first;
  if (!saga_.empty() && (!catching_up_ || saga_.begin()->first <= caught_up_at_)) {
    next = std::min(next.value_or(saga_.begin()->first), saga_.begin()->first);
  }
  return next;
}

void TimerQueues::clear() {
  saga_.clear();
  internal_.clear();
  armed_.clear();
}

}  // namespace engine
