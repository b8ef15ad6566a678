// TimerQueues: the engine's two timer queues and the rule that holds saga timers.
//
// Saga timers (attempt timeouts, retry backoffs, saga deadlines) mirror each unfinished
// saga's persisted timer fields (sync); housekeeping timers (retention, resends, commit
// retries, outbox clearing, deferred replies) are armed directly. A housekeeping timer is
// due when the clock passes it. A saga timer due at T is due only once the transport has
// caught up past T (caught_up): time is the participant's, so no timeout is declared while
// replies may still stand unread. The owner asks for a catch-up barrier when
// needs_catch_up() and reports it with caught_up().
//
// Invariant: every reply that stood on the reply partitions at caught_up_at_ has been
// applied. Executor thread only; plain data, no clock of its own.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sagas/instance.h"

namespace engine {

using sagas::TimeMs;

struct TimerRef {
  enum class Kind { step, deadline, retention, resend, commit_retry, clear_outbox, retry_replies } kind = Kind::step;
  std::string saga_id;
  std::size_t step = 0;
  std::int64_t outbox_id = 0;
};

class TimerQueues {
 public:
  // A housekeeping timer.
  void arm(TimeMs at, TimerRef ref) { internal_.insert({at, std::move(ref)}); }
  // Makes the saga's timers match its persisted ones (after every commit, and at recovery,
  // so a restarted engine waits for exactly what the crashed one did).
  void sync(const sagas::Instance& inst);
  void forget(const std::string& saga_id);

  // Removes and returns what is due at `now`: housekeeping first, then saga timers due up
  // to min(now, caught_up_at_).
  std::vector<TimerRef> take_due(TimeMs now);
  // A saga timer is due at `now` but not yet covered by a catch-up.
  bool needs_catch_up(TimeMs now) const { return !saga_.empty() && saga_.begin()->first <= now; }
  // A catch-up barrier is outstanding from catch_up_requested() until caught_up().
  bool catching_up() const { return catching_up_; }
  void catch_up_requested() { catching_up_ = true; }
  void caught_up(TimeMs at) {
    catching_up_ = false;
    if (at > caught_up_at_) caught_up_at_ = at;
  }

  // When to wake next: the first housekeeping timer, and the first saga timer unless an
  // outstanding catch-up will wake for it.
  std::optional<TimeMs> next_wake() const;
  void clear();

 private:
  using Queue = std::multimap<TimeMs, TimerRef>;
  struct Armed {
    std::vector<Queue::iterator> steps;  // saga_.end(): none
    Queue::iterator deadline;
  };

  Queue saga_;
  Queue internal_;
  std::unordered_map<std::string, Armed> armed_;
  TimeMs caught_up_at_ = 0;
  bool catching_up_ = false;
};

}  // namespace engine
