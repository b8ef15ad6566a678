// The transition function: one Machine per event, applying it to a copy of the instance.
// Its helpers that are no transition (a new instance, command ids, retry backoff):
// machine_support.cpp.
#include "sagas/machine.h"

#include <algorithm>
#include <charconv>

namespace sagas {

namespace {

// Why an attempt failed: a timeout leaves the participant's outcome unknown, a failure reply
// does not.
enum class AttemptFailure { timed_out, failure_reply };

bool truthy(const Json& v) { return !(v.is_null() || (v.is_bool() && !v.as_bool())); }

class Machine {
 public:
  Machine(const Definition& def, const Instance& inst, TimeMs now, const Environment& env)
      : def_(def), original_(inst), now_(now), env_(env) {
    t_.instance = inst;
  }

  Transition run(const Event& event) {
    if (inst().steps.size() != def_.steps.size()) {
      return reject("instance does not match definition " + def_.name + " v" + std::to_string(def_.version));
    }
    std::visit([this](const auto& e) { on(e); }, event);
    if (t_.rejected) {
      // Every rejection is decided before anything changes; this keeps it so if one is not.
      t_.instance = original_;
      t_.records.clear();
      t_.sends.clear();
      return std::move(t_);
    }
    if (t_.unchanged) return std::move(t_);  // the last transition left the saga at rest
    drive();
    if (!t_.records.empty()) inst().updated_at = now_;
    return std::move(t_);
  }

 private:
  Instance& inst() { return t_.instance; }
  const Instance& inst() const { return t_.instance; }
  StepRecord& rec(StepIndex i) { return t_.instance.steps[i.value()]; }
  const StepRecord& rec(StepIndex i) const { return t_.instance.steps[i.value()]; }
  const Step& step(StepIndex i) const { return def_.step(i); }
  bool running() const { return t_.instance.state == SagaState::running; }
  bool compensating() const { return t_.instance.state == SagaState::compensating; }

  void record(EventType event, std::optional<StepIndex> s, std::string detail = {}) {
    t_.records.push_back({std::move(event), s, std::move(detail)});
  }

  // The event changes nothing: a duplicate, or a timer that no longer stands.
  void ignore() { t_.unchanged = true; }

  Transition reject(std::string why) {
    t_.rejected = std::move(why);
    return std::move(t_);
  }

  std::string quoted(StepIndex i) const { return "\"" + step(i).name + "\""; }

  // --- events ---

  void on(const Started&) {
    bool fresh = running() && inst().stage == 0 &&
                 std::all_of(inst().steps.begin(), inst().steps.end(),
                             [](const StepRecord& r) { return r.state == StepState::pending; });
    if (!fresh) {
      t_.rejected = "saga " + inst().id + " has already started";
      return;
    }
    record(EventType::saga_started, std::nullopt, def_.name + " v" + std::to_string(def_.version));
    if (def_.deadline) inst().deadline_at = now_ + def_.deadline->count();
  }

  // Parses the attempt out of "<id>/<step>/<kind>/<n>"; 0 when the id is not one of ours.
  Attempt attempt_of(const std::string& mid, StepIndex s, CommandKind kind) const {
    // Compared part by part: a reply is matched without building the prefix.
    std::string_view rest = mid;
    for (std::string_view part : {std::string_view(inst().id), std::string_view(step(s).name), to_string(kind)}) {
      if (rest.size() <= part.size() || rest.substr(0, part.size()) != part || rest[part.size()] != '/') {
        return Attempt(0);
      }
      rest.remove_prefix(part.size() + 1);
    }
    if (rest.empty()) return Attempt(0);
    unsigned n = 0;
    const char* first = rest.data();
    const char* last = mid.data() + mid.size();
    auto r = std::from_chars(first, last, n);
    if (r.ec != std::errc() || r.ptr != last) return Attempt(0);
    return Attempt(n);
  }

  // The attempt's failure is already counted: a later attempt was sent since, or this one
  // failed and waits out its backoff. A second failure reply for it changes nothing.
  bool failure_counted(const StepRecord& sr, CommandKind kind, Attempt attempt) const {
    std::uint32_t current = kind == CommandKind::execute ? sr.attempts : sr.compensation_attempts;
    if (attempt.value() < current) return true;
    return sr.timer_at && sr.timer_for == kind && sr.timer_kind == TimerKind::retry_backoff;
  }

  static std::string error_of(const Json& body) {
    if (const Json* e = body.find("error")) {
      std::string text;
      append_as_text(text, *e);
      return text;
    }
    return "the participant replied failure";
  }

  void on(const ReplyReceived& r) {
    if (r.step.value() >= def_.steps.size()) {
      t_.rejected = "no step #" + std::to_string(r.step.value()) + " in " + def_.name;
      return;
    }
    StepRecord& sr = rec(r.step);
    std::uint32_t sent = r.kind == CommandKind::execute ? sr.attempts : sr.compensation_attempts;
    Attempt attempt = attempt_of(r.in_reply_to, r.step, r.kind);
    if (attempt.value() == 0 || attempt.value() > sent) {
      t_.rejected = "in-reply-to \"" + r.in_reply_to + "\" matches no " + std::string(to_string(r.kind)) +
                    " command sent for step " + quoted(r.step);
      return;
    }
    if (r.kind == CommandKind::execute) {
      on_execute_reply(r, attempt);
    } else {
      on_compensate_reply(r, attempt);
    }
  }

  void on_execute_reply(const ReplyReceived& r, Attempt attempt) {
    StepRecord& sr = rec(r.step);
    const std::string at = "attempt " + std::to_string(attempt.value());
    if (sr.state == StepState::running) {
      if (r.success) {
        step_succeeded(r.step, r.body, at);
      } else if (step(r.step).retriable && running()) {
        if (failure_counted(sr, CommandKind::execute, attempt)) return ignore();  // a duplicate failure
        // After the pivot there is no going back: a failure is retried like a timeout.
        attempt_failed(r.step, CommandKind::execute, AttemptFailure::failure_reply, "failure reply: " + error_of(r.body));
      } else {
        step_failed(r.step, error_of(r.body), /*outcome_unknown=*/false);
      }
      return;
    }
    // A late success of an earlier attempt still counts, even after the step timed out.
    if (r.success && sr.state == StepState::failed && sr.outcome_unknown) {
      sr.state = StepState::succeeded;
      sr.outcome_unknown = false;
      sr.reply = r.body;
      sr.error.clear();
      record(EventType::step_succeeded, r.step, "late reply to " + at);
      return;
    }
    ignore();  // anything else is a duplicate
  }

  void on_compensate_reply(const ReplyReceived& r, Attempt attempt) {
    StepRecord& sr = rec(r.step);
    if (sr.state != StepState::compensating) return ignore();  // a duplicate
    if (r.success) {
      sr.state = StepState::compensated;
      sr.finished_at = now_;
      sr.error.clear();
      cancel_timer(r.step);
      record(EventType::step_compensated, r.step, "attempt " + std::to_string(attempt.value()));
      return;
    }
    if (failure_counted(sr, CommandKind::compensate, attempt)) return ignore();  // a duplicate failure
    // An undo that fails is retried: the participant must eventually undo.
    attempt_failed(r.step, CommandKind::compensate, AttemptFailure::failure_reply, "failure reply: " + error_of(r.body));
  }

  void on(const TimerFired& f) {
    if (f.step.value() >= def_.steps.size()) return ignore();
    StepRecord& sr = rec(f.step);
    std::uint32_t current = f.kind == CommandKind::execute ? sr.attempts : sr.compensation_attempts;
    if (!sr.timer_at || sr.timer_for != f.kind || sr.timer_kind != f.timer || f.attempt != Attempt(current)) {
      return ignore();  // stale: the timer was replaced or cancelled after it was armed
    }
    sr.timer_at.reset();
    if (f.timer == TimerKind::attempt_timeout) {
      std::string what = "attempt " + std::to_string(current) + " timed out after " +
                         std::to_string(command(f.step, f.kind).timeout.count()) + "ms";
      if (f.kind == CommandKind::execute) {
        if (sr.state != StepState::running) return;
        record(EventType::step_timed_out, f.step, what);
        if (compensating()) {
          step_failed(f.step, what, /*outcome_unknown=*/true);  // no retries once compensating
        } else {
          attempt_failed(f.step, CommandKind::execute, AttemptFailure::timed_out, what);
        }
      } else {
        if (sr.state != StepState::compensating) return;
        record(EventType::compensation_timed_out, f.step, what);
        attempt_failed(f.step, CommandKind::compensate, AttemptFailure::timed_out, what);
      }
      return;
    }
    // Backoff over: the next attempt.
    if (f.kind == CommandKind::execute) {
      if (sr.state != StepState::running) return;
      if (compensating()) {
        step_failed(f.step, sr.error, /*outcome_unknown=*/true);
      } else {
        send_execute(f.step);
      }
    } else if (sr.state == StepState::compensating) {
      send_compensation(f.step);
    }
  }

  void on(const DeadlineReached&) {
    if (!running() && !inst().deadline_at) return ignore();
    inst().deadline_at.reset();
    if (!running()) return;
    const std::string detail = "deadline of " + std::to_string(def_.deadline ? def_.deadline->count() : 0) + "ms reached";
    if (past_pivot() || pivot_in_flight()) {
      record(EventType::deadline_passed, std::nullopt, detail + " past the pivot; the saga goes on");
      return;
    }
    begin_compensation(detail);
  }

  void on(const CompensateRequested& c) {
    const std::string reason = c.reason.empty() ? "compensation requested" : "compensation requested: " + c.reason;
    switch (inst().state) {
      case SagaState::running:
        if (past_pivot()) {
          t_.rejected = "saga " + inst().id + " has passed its pivot " + quoted(*def_.pivot) +
                        " and cannot be compensated";
        } else if (pivot_in_flight()) {
          t_.rejected = "the pivot " + quoted(*def_.pivot) + " of saga " + inst().id +
                        " is in flight; try again once it has finished";
        } else {
          begin_compensation(reason);
        }
        return;
      case SagaState::compensating:
        t_.rejected = "saga " + inst().id + " is already compensating";
        return;
      case SagaState::failed: {
        bool resumed = false;
        for (std::size_t i = 0; i < inst().steps.size(); ++i) {
          StepRecord& sr = inst().steps[i];
          if (!sr.compensation_gave_up) continue;
          sr.compensation_gave_up = false;
          sr.compensation_budget_from = sr.compensation_attempts;
          resumed = true;
        }
        if (!resumed) {
          t_.rejected = "saga " + inst().id + " failed after its pivot; there is nothing to compensate";
          return;
        }
        inst().state = SagaState::compensating;
        // The "ran out of attempts; run sagactl compensate" advice is answered: say what is
        // happening now, and it stays the saga's error if the compensations succeed.
        inst().error = reason;
        record(EventType::compensation_resumed, std::nullopt, reason);
        return;
      }
      case SagaState::completed:
      case SagaState::compensated:
        t_.rejected = "saga " + inst().id + " has already finished (" + std::string(to_string(inst().state)) + ")";
        return;
    }
  }

  // --- forward ---

  void drive() {
    if (running()) drive_forward();
    if (compensating()) drive_compensation();
  }

  void drive_forward() {
    while (running() && inst().stage < def_.stages.size()) {
      const Stage& st = def_.stages[inst().stage];
      for (auto i : st.steps) {
        if (rec(i).state == StepState::pending && running()) start_step(i);
      }
      if (!running()) return;
      bool done = std::all_of(st.steps.begin(), st.steps.end(), [&](StepIndex i) {
        return rec(i).state == StepState::succeeded || rec(i).state == StepState::skipped;
      });
      if (!done) return;
      ++inst().stage;
    }
    if (running()) finish(SagaState::completed, EventType::saga_completed, "");
  }

  RenderContext context() const {
    RenderContext ctx;
    ctx.input = &t_.instance.input.value_or_null();
    ctx.saga_id = t_.instance.id;
    ctx.saga_name = def_.name;
    ctx.saga_version = def_.version;
    ctx.step_value = [this](StepIndex i, RefRoot part) -> const Json* {
      if (i.value() >= t_.instance.steps.size()) return nullptr;
      const auto& v = part == RefRoot::step_reply ? t_.instance.steps[i.value()].reply
                                                  : t_.instance.steps[i.value()].request;
      return v ? &*v : nullptr;
    };
    return ctx;
  }

  void start_step(StepIndex i) {
    const Step& s = step(i);
    StepRecord& sr = rec(i);
    if (s.when) {
      auto w = s.when->render(context(), Missing::as_null);
      if (!w || !truthy(*w)) {
        sr.state = StepState::skipped;
        record(EventType::step_skipped, i, "when is " + (w ? w->dump() : std::string("null")));
        return;
      }
    }
    auto payload = s.execute.payload.render(context(), Missing::fail);
    if (!payload) {
      // Never sent, so there is nothing to undo for this step.
      sr.started_at = now_;
      step_failed(i, "cannot render the payload: " + payload.error().message, /*outcome_unknown=*/false);
      return;
    }
    sr.request = std::move(payload).value();
    sr.state = StepState::running;
    sr.started_at = now_;
    send_execute(i);
  }

  const CommandSpec& command(StepIndex i, CommandKind kind) const {
    return kind == CommandKind::execute ? step(i).execute : *step(i).compensation;
  }

  void send(StepIndex i, CommandKind kind, Attempt attempt, SharedJson payload) {
    SendCommand cmd = make_command(def_, inst().id, i, kind, attempt, std::move(payload));
    arm_timer(i, kind, TimerKind::attempt_timeout, command(i, kind).timeout);
    cmd.expires_at = *rec(i).timer_at;
    t_.sends.push_back(std::move(cmd));
  }

  void send_execute(StepIndex i) {
    StepRecord& sr = rec(i);
    ++sr.attempts;
    record(sr.attempts == 1 ? EventType::step_started : EventType::step_retried, i, "attempt " + std::to_string(sr.attempts));
    send(i, CommandKind::execute, Attempt(sr.attempts), sr.request);
  }

  void arm_timer(StepIndex i, CommandKind kind, TimerKind timer, Millis delay) {
    StepRecord& sr = rec(i);
    sr.timer_at = now_ + delay.count();
    sr.timer_kind = timer;
    sr.timer_for = kind;
  }

  void cancel_timer(StepIndex i) { rec(i).timer_at.reset(); }

  // A failed attempt (timeout, or a failure reply where failures are retried): back off and
  // try again while attempts are left. The cause decides, when none are left, whether the
  // participant may have acted (a timeout: outcome unknown) or said it did not.
  void attempt_failed(StepIndex i, CommandKind kind, AttemptFailure cause, const std::string& why) {
    StepRecord& sr = rec(i);
    const RetryPolicy& policy = command(i, kind).retry;
    std::uint32_t used = kind == CommandKind::execute ? sr.attempts
                                                      : sr.compensation_attempts - sr.compensation_budget_from;
    sr.error = why;
    if (policy.forever() || used < *policy.max_attempts) {
      Millis delay = backoff_delay(policy, used, env_.random());
      record(kind == CommandKind::execute ? EventType::step_attempt_failed : EventType::compensation_attempt_failed, i,
             why + "; retrying in " + std::to_string(delay.count()) + "ms");
      arm_timer(i, kind, TimerKind::retry_backoff, delay);
      return;
    }
    std::string out_of = why + "; no attempts left (" + std::to_string(used) + ")";
    if (kind == CommandKind::execute) {
      step_failed(i, out_of, cause == AttemptFailure::timed_out);
    } else {
      sr.state = StepState::compensation_failed;
      sr.compensation_gave_up = true;
      sr.finished_at = now_;
      sr.error = out_of;
      cancel_timer(i);
      record(EventType::step_compensation_failed, i, out_of);
    }
  }

  void step_succeeded(StepIndex i, const Json& body, const std::string& detail) {
    StepRecord& sr = rec(i);
    sr.state = StepState::succeeded;
    sr.reply = body;
    sr.finished_at = now_;
    sr.error.clear();
    cancel_timer(i);
    record(EventType::step_succeeded, i, detail);
  }

  void step_failed(StepIndex i, const std::string& error, bool outcome_unknown) {
    StepRecord& sr = rec(i);
    sr.state = StepState::failed;
    sr.error = error;
    sr.outcome_unknown = outcome_unknown;
    sr.finished_at = now_;
    cancel_timer(i);
    record(EventType::step_failed, i, error);
    if (!running()) return;
    if (step(i).retriable) {
      finish(SagaState::failed, EventType::saga_failed,
             "step " + quoted(i) + " failed after the pivot: " + error +
                 "; fix the participant and retry it (the saga cannot be compensated)");
    } else {
      begin_compensation("step " + quoted(i) + " failed: " + error);
    }
  }

  // --- compensation ---

  bool past_pivot() const { return def_.pivot && rec(*def_.pivot).state == StepState::succeeded; }
  bool pivot_in_flight() const { return def_.pivot && rec(*def_.pivot).state == StepState::running; }

  void begin_compensation(const std::string& reason) {
    inst().state = SagaState::compensating;
    inst().error = reason;
    record(EventType::compensation_started, std::nullopt, reason);
    // A step waiting out a retry backoff is not retried any more; earlier attempts timed
    // out, so its outcome is unknown.
    for (std::size_t k = 0; k < inst().steps.size(); ++k) {
      StepIndex i(k);
      if (rec(i).state == StepState::running && rec(i).timer_at && rec(i).timer_kind == TimerKind::retry_backoff) {
        step_failed(i, rec(i).error, /*outcome_unknown=*/true);
      }
    }
  }

  bool needs_compensation(StepIndex i) const {
    const StepRecord& sr = rec(i);
    if (!step(i).compensation || step(i).retriable || sr.compensation_gave_up) return false;
    return sr.state == StepState::succeeded || (sr.state == StepState::failed && sr.outcome_unknown) ||
           sr.state == StepState::compensation_failed;
  }

  void send_compensation(StepIndex i) {
    StepRecord& sr = rec(i);
    auto payload = step(i).compensation->payload.render(context(), Missing::as_null);
    sr.state = StepState::compensating;
    ++sr.compensation_attempts;
    bool first = sr.compensation_attempts == sr.compensation_budget_from + 1;
    record(first ? EventType::compensation_step_started : EventType::compensation_retried, i,
           "attempt " + std::to_string(sr.compensation_attempts));
    send(i, CommandKind::compensate, Attempt(sr.compensation_attempts), payload ? std::move(payload).value() : Json());
  }

  void drive_compensation() {
    const auto n = inst().steps.size();
    auto any = [&](auto pred) {
      for (std::size_t k = 0; k < n; ++k) {
        if (pred(StepIndex(k))) return true;
      }
      return false;
    };
    // In-flight steps are awaited (or time out) first: their outcome decides whether
    // they need undoing.
    if (any([&](StepIndex i) { return rec(i).state == StepState::running; })) return;
    bool in_flight = any([&](StepIndex i) { return rec(i).state == StepState::compensating; });
    bool gave_up = any([&](StepIndex i) { return rec(i).compensation_gave_up; });

    if (def_.compensation_strategy == CompensationStrategy::parallel) {
      for (std::size_t k = 0; k < n; ++k) {
        if (needs_compensation(StepIndex(k))) send_compensation(StepIndex(k));
      }
    } else if (!in_flight && !gave_up) {
      // Reverse order, a stage at a time; a group's members unwind together.
      std::optional<std::size_t> top;
      for (std::size_t k = 0; k < n; ++k) {
        if (needs_compensation(StepIndex(k))) top = std::max(top.value_or(0), step(StepIndex(k)).stage);
      }
      if (top) {
        for (auto i : def_.stages[*top].steps) {
          if (needs_compensation(i)) send_compensation(i);
        }
      }
    }
    if (any([&](StepIndex i) { return rec(i).state == StepState::compensating; })) return;
    if (gave_up) {
      std::string names;
      for (std::size_t k = 0; k < n; ++k) {
        if (rec(StepIndex(k)).compensation_gave_up) names += (names.empty() ? "" : ", ") + quoted(StepIndex(k));
      }
      finish(SagaState::failed, EventType::saga_failed,
             "compensation of " + names + " ran out of attempts; run `sagactl compensate " + inst().id +
                 "` to retry the remaining compensations");
      return;
    }
    finish(SagaState::compensated, EventType::saga_compensated, inst().error);
  }

  void finish(SagaState state, EventType event, const std::string& detail) {
    inst().state = state;
    // A finished saga waits for nothing: a step still in flight (a retriable sibling of the
    // step that failed the saga) keeps its state, and a late reply is still recorded.
    for (std::size_t k = 0; k < inst().steps.size(); ++k) cancel_timer(StepIndex(k));
    if (state == SagaState::failed) inst().error = detail;
    inst().deadline_at.reset();
    record(event, std::nullopt, detail);
  }

  const Definition& def_;
  const Instance& original_;
  TimeMs now_;
  const Environment& env_;
  Transition t_;
};

}  // namespace

Transition transition(const Definition& def, const Instance& instance, const Event& event, TimeMs now,
                      const Environment& env) {
  return Machine(def, instance, now, env).run(event);
}

}  // namespace sagas
