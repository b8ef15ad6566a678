// Model-based test of the pure machine: random sagas driven through random reply orders,
// failures, lost messages (timeouts), duplicates, late replies, deadlines and operator
// requests, from a fixed seed. After every run it checks the invariants that must hold
// whatever happened.
#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <map>
#include <set>

#include "tests/unit/machine_harness.h"

namespace machine_test {
namespace {

// A tiny deterministic PRNG (std distributions differ between standard libraries).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  bool chance(int percent) { return below(100) < static_cast<std::size_t>(percent); }

 private:
  std::uint64_t s_;
};

std::string random_saga(Rng& rng) {
  std::string y = "apiVersion: saga/v1\nsaga: m\n";
  y += "defaults: {timeout: 1s, retry: {max_attempts: " + std::to_string(1 + rng.below(3)) +
       ", backoff: fixed, initial: 10ms, max: 10ms, jitter: false}}\n";
  y += std::string("compensation: {strategy: ") + (rng.chance(50) ? "sequential" : "parallel") +
       ", retry: {max_attempts: " + std::to_string(1 + rng.below(3)) + ", backoff: fixed, initial: 10ms, max: 10ms}}\n";
  if (rng.chance(20)) y += "deadline: 1h\n";
  y += "steps:\n";
  std::size_t stages = 1 + rng.below(5);
  std::size_t pivot_at = rng.chance(40) ? rng.below(stages) : stages;
  int n = 0;
  auto step = [&](bool after_pivot, bool is_pivot) {
    std::string name = "s" + std::to_string(n++);
    std::string s = "{name: " + name + ", topic: t, command: C" + name;
    if (is_pivot) s += ", pivot: true";
    if (!after_pivot && !is_pivot && rng.chance(70)) s += ", compensation: {command: U" + name + "}";
    if (rng.chance(10)) s += ", when: \"${input.f" + std::to_string(rng.below(2)) + "}\"";
    return s + "}";
  };
  for (std::size_t k = 0; k < stages; ++k) {
    bool after = k > pivot_at;
    if (k != pivot_at && rng.chance(30)) {
      y += "  - parallel: {name: g" + std::to_string(k) + ", steps: [";
      std::size_t members = 2 + rng.below(2);
      for (std::size_t m = 0; m < members; ++m) y += (m ? ", " : "") + step(after, false);
      y += "]}\n";
    } else {
      y += "  - " + step(after, k == pivot_at) + "\n";
    }
  }
  return y;
}

struct Delivered {
  ReplyReceived reply;
};

struct Coverage {
  std::map<SagaState, int> ends;
  int duplicates = 0;
  int timeouts = 0;
  int resumed_or_aborted = 0;
};

void run_one(std::uint64_t seed, Coverage& cov) {
  Rng rng(seed);
  const std::string yaml = random_saga(rng);
  SCOPED_TRACE("seed " + std::to_string(seed) + "\n" + yaml);
  Json input = Json::object();
  input.set("f0", rng.chance(50));
  input.set("f1", rng.chance(50));
  Driver d(yaml, input);
  const Definition& def = d.def();

  std::vector<SendCommand> outstanding;
  std::vector<ReplyReceived> delivered;
  std::set<std::string> message_ids;
  std::vector<std::size_t> first_comp_stages;  // stage of each compensation's first attempt
  std::map<std::size_t, bool> ever_sent;

  auto absorb = [&](const Transition& t) {
    ASSERT_FALSE(t.rejected.has_value()) << *t.rejected;
    for (const auto& s : t.sends) {
      EXPECT_TRUE(message_ids.insert(s.message_id).second) << "duplicate message id " << s.message_id;
      const Step& st = def.step(s.step);
      if (s.kind == CommandKind::execute) {
        ever_sent[s.step.value()] = true;
      } else {
        EXPECT_TRUE(ever_sent[s.step.value()]) << "compensating " << st.name << ", which was never sent";
        EXPECT_FALSE(st.retriable || st.pivot) << "compensating " << st.name << " after/at the pivot";
        if (s.attempt == Attempt(1)) first_comp_stages.push_back(st.stage);
      }
      outstanding.push_back(s);
    }
  };

  absorb(d.start());
  bool operator_asked = false;
  for (int iteration = 0; iteration < 5000 && !is_terminal(d.inst().state); ++iteration) {
    std::vector<std::string> timers;
    for (const auto& st : def.steps) {
      if (d.step(st.name).timer_at) timers.push_back(st.name);
    }
    if (outstanding.empty() && timers.empty()) {
      FAIL() << "stuck: nothing in flight and no timer, state " << to_string(d.inst().state);
    }
    std::size_t roll = rng.below(100);
    if (!outstanding.empty() && (roll < 70 || timers.empty())) {
      std::size_t k = rng.below(outstanding.size());
      SendCommand cmd = outstanding[k];
      outstanding.erase(outstanding.begin() + static_cast<std::ptrdiff_t>(k));
      std::size_t fate = rng.below(100);
      int ok_pct = cmd.kind == CommandKind::execute ? 65 : 75;
      if (fate < static_cast<std::size_t>(ok_pct) + 15) {
        bool success = fate < static_cast<std::size_t>(ok_pct);
        ReplyReceived r{cmd.step, cmd.kind, cmd.message_id, success,
                        success ? Json::object() : *Json::parse(R"({"error":"boom"})")};
        delivered.push_back(r);
        absorb(d.apply(r));
      }  // else lost: only the timeout will tell
    } else if (!timers.empty() && roll < 95) {
      ++cov.timeouts;
      absorb(d.fire(timers[rng.below(timers.size())]));
    } else if (!delivered.empty() && roll < 98) {
      ++cov.duplicates;
      absorb(d.apply(delivered[rng.below(delivered.size())]));  // a duplicate or late reply
    } else if (!operator_asked) {
      operator_asked = true;
      const auto& t = d.apply(CompensateRequested{"model"});
      if (!t.rejected) {
        ++cov.resumed_or_aborted;
        absorb(t);
      }
    } else {
      absorb(d.apply(DeadlineReached{}));
    }
    if (::testing::Test::HasFatalFailure()) return;
  }

  const Instance& inst = d.inst();
  ASSERT_TRUE(is_terminal(inst.state)) << "not terminal: " << to_string(inst.state);
  ++cov.ends[inst.state];
  for (const auto& st : def.steps) {
    StepState s = d.state(st.name);
    if (inst.state == SagaState::completed) {
      EXPECT_TRUE(s == StepState::succeeded || s == StepState::skipped) << st.name << " " << to_string(s);
    }
    if (inst.state == SagaState::compensated && st.compensation && !st.retriable) {
      EXPECT_NE(s, StepState::succeeded) << st.name << " succeeded but was not compensated";
      EXPECT_FALSE(s == StepState::failed && d.step(st.name).outcome_unknown) << st.name << " timed out, not undone";
    }
    if (s == StepState::compensated) {
      EXPECT_GT(d.step(st.name).attempts, 0u);
    }
    EXPECT_FALSE(d.step(st.name).timer_at.has_value()) << st.name << " has a timer after the end";
  }
  if (def.compensation_strategy == CompensationStrategy::sequential) {
    for (std::size_t k = 1; k < first_comp_stages.size(); ++k) {
      EXPECT_LE(first_comp_stages[k], first_comp_stages[k - 1]) << "compensation out of reverse order";
    }
  }
}

TEST(MachineModel, RandomSagasAlwaysEndAndKeepTheInvariants) {
  Coverage cov;
  for (std::uint64_t seed = 1; seed <= 2000; ++seed) {
    run_one(seed * 0x9E3779B97F4A7C15ULL, cov);
    if (::testing::Test::HasFailure()) return;  // one failing seed is enough to read
  }
  // The generator must keep reaching every ending and the paths that matter.
  EXPECT_GT(cov.ends[SagaState::completed], 100);
  EXPECT_GT(cov.ends[SagaState::compensated], 100);
  EXPECT_GT(cov.ends[SagaState::failed], 20);
  EXPECT_GT(cov.duplicates, 100);
  EXPECT_GT(cov.timeouts, 1000);
  EXPECT_GT(cov.resumed_or_aborted, 5);
  std::cout << "completed " << cov.ends[SagaState::completed] << ", compensated "
            << cov.ends[SagaState::compensated] << ", failed " << cov.ends[SagaState::failed]
            << ", duplicates " << cov.duplicates << ", timer firings " << cov.timeouts
            << ", operator requests applied " << cov.resumed_or_aborted << "\n";
}

}  // namespace
}  // namespace machine_test
