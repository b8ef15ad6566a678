// A small driver for the pure machine in tests: compiles a saga from YAML, applies events,
// and remembers what the machine asked for (sends, timers), so a test reads like a script.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dsl/compiler.h"
#include "sagas/machine.h"

namespace machine_test {

using namespace sagas;

inline DefinitionPtr compile_saga(const std::string& yaml) {
  auto r = dsl::compile(yaml, "t.yaml");
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) ADD_FAILURE() << dsl::format(d);
  }
  return r.definition;
}

class Driver {
 public:
  explicit Driver(const std::string& yaml, Json input = Json::object())
      : def_(compile_saga(yaml)), inst_(new_instance(*def_, "sid", std::move(input), 0)) {}

  const Definition& def() const { return *def_; }
  const Instance& inst() const { return inst_; }
  const Transition& last() const { return last_; }
  TimeMs now() const { return now_; }
  void advance(TimeMs ms) { now_ += ms; }

  StepIndex idx(const std::string& name) const { return *def_->find_step(name); }
  const StepRecord& step(const std::string& name) const { return inst_.steps[idx(name).value()]; }
  StepState state(const std::string& name) const { return step(name).state; }

  // Every transition is checked against the contract the engine relies on: a rejected event
  // changes nothing, and `unchanged` says exactly whether the event changed nothing (the
  // engine commits nothing for it and counts a duplicate).
  const Transition& apply(const Event& e) {
    last_ = transition(*def_, inst_, e, now_, env_);
    const bool nothing = last_.instance == inst_ && last_.records.empty() && last_.sends.empty();
    if (last_.rejected) {
      EXPECT_TRUE(nothing) << "a rejected event changed the saga: " << *last_.rejected;
    } else {
      EXPECT_EQ(last_.unchanged, nothing) << "the transition's unchanged flag is wrong for event #" << e.index();
    }
    inst_ = last_.instance;
    for (const auto& r : last_.records) history_.push_back(r);
    for (const auto& s : last_.sends) sent_.push_back(s);
    return last_;
  }

  const Transition& start() { return apply(Started{}); }

  // Replies to the latest command sent for `name` (or to attempt `attempt`).
  const Transition& reply(const std::string& name, bool success, Json body = Json::object(),
                          CommandKind kind = CommandKind::execute, std::uint32_t attempt = 0) {
    StepIndex i = idx(name);
    const StepRecord& r = inst_.steps[i.value()];
    if (attempt == 0) attempt = kind == CommandKind::execute ? r.attempts : r.compensation_attempts;
    return apply(ReplyReceived{i, kind, message_id(inst_, *def_, i, kind, sagas::Attempt(attempt)), success, std::move(body)});
  }
  const Transition& succeed(const std::string& name, Json body = Json::object()) {
    return reply(name, true, std::move(body));
  }
  const Transition& fail(const std::string& name) { return reply(name, false, *Json::parse(R"({"error":"no"})")); }
  const Transition& undo(const std::string& name, bool success = true) {
    return reply(name, success, Json::object(), CommandKind::compensate);
  }

  // Fires the step's armed timer (whatever it is for), moving the clock to it.
  const Transition& fire(const std::string& name) {
    StepIndex i = idx(name);
    const StepRecord& r = inst_.steps[i.value()];
    EXPECT_TRUE(r.timer_at.has_value()) << "no timer armed for " << name;
    if (r.timer_at) now_ = std::max(now_, *r.timer_at);
    std::uint32_t attempt = r.timer_for == CommandKind::execute ? r.attempts : r.compensation_attempts;
    return apply(TimerFired{i, r.timer_for, r.timer_kind, sagas::Attempt(attempt)});
  }

  // Names of the steps whose commands of `kind` the last transition sent, in order.
  std::vector<std::string> sent_now(CommandKind kind = CommandKind::execute) const {
    std::vector<std::string> out;
    for (const auto& s : last_.sends) {
      if (s.kind == kind) out.push_back(def_->step(s.step).name);
    }
    return out;
  }

  std::vector<std::string> events() const {
    std::vector<std::string> out;
    for (const auto& r : history_) {
      out.push_back(std::string(sagas::to_string(r.event)) + (r.step ? ":" + def_->step(*r.step).name : std::string()));
    }
    return out;
  }

  const std::vector<SendCommand>& all_sent() const { return sent_; }
  Environment& env() { return env_; }

 private:
  DefinitionPtr def_;
  Instance inst_;
  Transition last_;
  TimeMs now_ = 0;
  Environment env_;
  std::vector<Record> history_;
  std::vector<SendCommand> sent_;
};

}  // namespace machine_test
