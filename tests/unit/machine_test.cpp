// The pure saga machine, one behaviour per test: jump to a state, feed one event, check
// the new state and exactly what the machine asks for.
#include <gtest/gtest.h>

#include "tests/unit/machine_harness.h"

namespace machine_test {
namespace {

using V = std::vector<std::string>;

// a -> [b, c] -> d, each compensable; sequential strategy.
const std::string kShop = R"(apiVersion: saga/v1
saga: shop
defaults: {timeout: 1s, retry: {max_attempts: 3, backoff: exponential, initial: 100ms, max: 1s, jitter: false}}
compensation: {retry: {max_attempts: 2, backoff: fixed, initial: 50ms, max: 50ms, jitter: false}}
steps:
  - {name: a, topic: t.a, command: A, payload: {order: "${input.order}"}, compensation: {command: UndoA, payload: {r: "${steps.a.reply.r}"}}}
  - parallel:
      name: g
      steps:
        - {name: b, topic: t.b, command: B, compensation: {command: UndoB}}
        - {name: c, topic: t.c, command: C, compensation: {command: UndoC}}
  - {name: d, topic: t.d, command: D, compensation: {command: UndoD}}
)";

Json order() { return *Json::parse(R"({"order": "o-1"})"); }

TEST(Machine, SequentialStepsAndAGroupRunInOrderAndComplete) {
  Driver d(kShop, order());
  d.start();
  EXPECT_EQ(d.sent_now(), V{"a"});
  EXPECT_EQ(d.last().sends[0].payload->dump(), R"({"order":"o-1"})");
  EXPECT_EQ(d.last().sends[0].topic, "t.a");
  EXPECT_EQ(d.last().sends[0].command, "A");
  d.succeed("a");
  EXPECT_EQ(d.sent_now(), (V{"b", "c"}));  // the group's members at once
  d.succeed("c");
  EXPECT_EQ(d.sent_now(), V{});  // waits for b
  d.succeed("b");
  EXPECT_EQ(d.sent_now(), V{"d"});
  d.succeed("d");
  EXPECT_EQ(d.inst().state, SagaState::completed);
  EXPECT_EQ(d.events(), (V{"saga-started", "step-started:a", "step-succeeded:a", "step-started:b",
                           "step-started:c", "step-succeeded:c", "step-succeeded:b", "step-started:d",
                           "step-succeeded:d", "saga-completed"}));
}

TEST(Machine, CommandsCarryIdempotencyKeyAndUniqueMessageIds) {
  Driver d(kShop, order());
  d.start();
  const auto& cmd = d.last().sends[0];
  EXPECT_EQ(cmd.idempotency_key, "sid/a/execute");
  EXPECT_EQ(cmd.message_id, "sid/a/execute/1");
  EXPECT_EQ(cmd.attempt, Attempt(1));
  ASSERT_TRUE(d.step("a").timer_at.has_value());
  EXPECT_EQ(*d.step("a").timer_at, 1000);  // the step's timeout
  EXPECT_EQ(d.step("a").timer_kind, TimerKind::attempt_timeout);
  EXPECT_EQ(cmd.expires_at, 1000);         // the participant is told the same deadline
}

TEST(Machine, TimeoutRetriesWithBackoffSameKeyNewMessageId) {
  Driver d(kShop, order());
  d.start();
  d.fire("a");  // attempt 1 times out at 1000
  EXPECT_EQ(d.state("a"), StepState::running);
  ASSERT_TRUE(d.step("a").timer_at.has_value());
  EXPECT_EQ(d.step("a").timer_kind, TimerKind::retry_backoff);
  EXPECT_EQ(*d.step("a").timer_at, 1100);  // initial 100ms
  d.fire("a");  // backoff over: attempt 2
  ASSERT_EQ(d.last().sends.size(), 1u);
  EXPECT_EQ(d.last().sends[0].attempt, Attempt(2));
  EXPECT_EQ(d.last().sends[0].message_id, "sid/a/execute/2");
  EXPECT_EQ(d.last().sends[0].idempotency_key, "sid/a/execute");
  EXPECT_EQ(d.last().sends[0].expires_at, 2100);  // each attempt its own deadline
  d.fire("a");  // attempt 2 times out at 2100
  EXPECT_EQ(d.step("a").timer_at, 2300);  // exponential: 200ms
}

TEST(Machine, BackoffIsCappedAndJittered) {
  RetryPolicy p{5, Backoff::exponential, Millis(100), Millis(1000), false};
  EXPECT_EQ(backoff_delay(p, 1, 0.0), Millis(100));
  EXPECT_EQ(backoff_delay(p, 3, 0.0), Millis(400));
  EXPECT_EQ(backoff_delay(p, 9, 0.0), Millis(1000));
  p.jitter = true;
  EXPECT_EQ(backoff_delay(p, 3, 0.0), Millis(200));  // half kept
  EXPECT_EQ(backoff_delay(p, 3, 1.0), Millis(400));
  p.backoff = Backoff::fixed;
  p.jitter = false;
  EXPECT_EQ(backoff_delay(p, 7, 0.3), Millis(100));
}

TEST(Machine, JitterUsesTheInjectedRandomSource) {
  Driver d(R"(apiVersion: saga/v1
saga: j
steps: [{name: a, topic: t, command: A, timeout: 1s, retry: {max_attempts: 2, initial: 1s, max: 1s, jitter: true}}]
)");
  d.env().random = [] { return 0.0; };
  d.start();
  d.fire("a");
  EXPECT_EQ(d.step("a").timer_at, 1500);
}

TEST(Machine, FailureReplyFailsAtOnceAndCompensatesEarlierStepsNotItself) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a", *Json::parse(R"({"r": "res-1"})"));
  d.succeed("b");
  d.succeed("c");
  d.fail("d");
  EXPECT_EQ(d.state("d"), StepState::failed);
  EXPECT_EQ(d.step("d").attempts, 1u);  // not retried
  EXPECT_EQ(d.inst().state, SagaState::compensating);
  EXPECT_EQ(d.inst().error, "step \"d\" failed: no");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), (V{"b", "c"}));  // group first, together
  d.undo("c");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{});  // waits for b
  d.undo("b");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"a"});
  EXPECT_EQ(d.last().sends[0].payload->dump(), R"({"r":"res-1"})");
  EXPECT_EQ(d.last().sends[0].idempotency_key, "sid/a/compensate");
  d.undo("a");
  EXPECT_EQ(d.inst().state, SagaState::compensated);
  EXPECT_EQ(d.state("d"), StepState::failed);
  EXPECT_EQ(d.state("a"), StepState::compensated);
}

TEST(Machine, ExhaustedTimeoutsCompensateTheStepItselfWithNullReply) {
  Driver d(kShop, order());
  d.start();
  for (int i = 0; i < 5; ++i) d.fire("a");  // 3 timeouts and 2 backoffs
  EXPECT_EQ(d.state("a"), StepState::compensating);
  EXPECT_TRUE(d.step("a").outcome_unknown);
  EXPECT_EQ(d.step("a").attempts, 3u);
  ASSERT_EQ(d.sent_now(CommandKind::compensate), V{"a"});
  EXPECT_EQ(d.last().sends[0].payload->dump(), R"({"r":null})");
}

TEST(Machine, DuplicateRepliesAreIgnored) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  auto before = d.inst();
  d.succeed("a");
  EXPECT_FALSE(d.last().rejected.has_value());
  EXPECT_TRUE(d.last().records.empty());
  EXPECT_TRUE(d.last().sends.empty());
  EXPECT_EQ(d.inst(), before);
}

TEST(Machine, LateSuccessOfAnEarlierAttemptCounts) {
  Driver d(kShop, order());
  d.start();
  d.fire("a");  // attempt 1 timed out, now backing off
  d.fire("a");  // attempt 2 sent
  d.reply("a", true, *Json::parse(R"({"r": 1})"), CommandKind::execute, /*attempt=*/1);
  EXPECT_EQ(d.state("a"), StepState::succeeded);
  EXPECT_EQ(d.step("a").reply->dump(), R"({"r":1})");
  EXPECT_EQ(d.sent_now(), (V{"b", "c"}));
  EXPECT_FALSE(d.step("a").timer_at.has_value());  // attempt 2's timeout is cancelled
}

TEST(Machine, TimedOutGroupMemberIsCompensatedWithANullReply) {
  Driver d(R"(apiVersion: saga/v1
saga: late
steps:
  - {name: a, topic: t, command: A, retry: {max_attempts: 1}, compensation: {command: U, payload: {r: "${steps.a.reply.r}"}}}
  - parallel: {name: g, steps: [{name: b, topic: t, command: B, retry: {max_attempts: 1}}, {name: c, topic: t, command: C, retry: {max_attempts: 1}, compensation: {command: UC, payload: {x: "${steps.c.reply.x}"}}}]}
)");
  d.start();
  d.succeed("a");
  d.fail("b");  // compensation begins, c is in flight
  d.fire("c");  // c times out: unknown outcome
  // c's own compensation starts first (sequential, its stage)
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"c"});
  EXPECT_EQ(d.last().sends[0].payload->dump(), R"({"x":null})");
}

TEST(Machine, LateSuccessAfterTheStepRanOutOfAttemptsStillCounts) {
  Driver d(R"(apiVersion: saga/v1
saga: late
steps:
  - parallel:
      name: g
      steps:
        - {name: b, topic: t, command: B}
        - {name: c, topic: t, command: C, retry: {max_attempts: 1}, compensation: {command: UC, payload: {x: "${steps.c.reply.x}"}}}
        - {name: e, topic: t, command: E}
)");
  d.start();
  d.fail("b");
  d.fire("c");  // c times out: failed, outcome unknown; e still in flight
  EXPECT_EQ(d.state("c"), StepState::failed);
  d.reply("c", true, *Json::parse(R"({"x": 42})"), CommandKind::execute, 1);
  EXPECT_EQ(d.state("c"), StepState::succeeded);
  d.succeed("e");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"c"});
  EXPECT_EQ(d.last().sends[0].payload->dump(), R"({"x":42})");
}

TEST(Machine, UnmatchedRepliesAreRejectedForTheDeadLetterTopic) {
  Driver d(kShop, order());
  d.start();
  d.apply(ReplyReceived{d.idx("a"), CommandKind::execute, "sid/a/execute/7", true, Json()});
  ASSERT_TRUE(d.last().rejected.has_value());
  EXPECT_EQ(*d.last().rejected, "in-reply-to \"sid/a/execute/7\" matches no execute command sent for step \"a\"");
  d.apply(ReplyReceived{d.idx("b"), CommandKind::execute, "sid/b/execute/1", true, Json()});
  EXPECT_TRUE(d.last().rejected.has_value());  // b was never sent
  d.apply(ReplyReceived{d.idx("a"), CommandKind::compensate, "sid/a/compensate/1", true, Json()});
  EXPECT_TRUE(d.last().rejected.has_value());
  EXPECT_EQ(d.state("a"), StepState::running);
}

TEST(Machine, GroupFailureAwaitsSiblingsThenUndoesTheOnesThatSucceeded) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  d.fail("b");
  EXPECT_EQ(d.inst().state, SagaState::compensating);
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{});  // c still in flight
  d.succeed("c");                                       // its reply still arrives and is recorded
  EXPECT_EQ(d.state("c"), StepState::compensating);
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"c"});
  d.undo("c");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"a"});
  d.undo("a");
  EXPECT_EQ(d.inst().state, SagaState::compensated);
  EXPECT_EQ(d.state("b"), StepState::failed);
  EXPECT_EQ(d.state("d"), StepState::pending);  // never sent
}

TEST(Machine, InFlightStepsAreNotRetriedOnceCompensating) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  d.fail("b");
  d.fire("c");  // c's attempt times out: no retry, outcome unknown, compensated
  EXPECT_EQ(d.state("c"), StepState::compensating);
  EXPECT_EQ(d.step("c").attempts, 1u);
}

TEST(Machine, ParallelStrategyCompensatesEverythingAtOnce) {
  std::string yaml = kShop;
  yaml.replace(yaml.find("compensation: {retry"), 20, "compensation: {strategy: parallel, retry");
  Driver d(yaml, order());
  d.start();
  d.succeed("a");
  d.succeed("b");
  d.succeed("c");
  d.fail("d");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), (V{"a", "b", "c"}));
}

TEST(Machine, SkippedStepsAreNotSentNorCompensated) {
  Driver d(R"(apiVersion: saga/v1
saga: w
steps:
  - {name: a, topic: t, command: A, when: "${input.flag}", compensation: {command: U}}
  - {name: b, topic: t, command: B}
)", *Json::parse(R"({"flag": false})"));
  d.start();
  EXPECT_EQ(d.state("a"), StepState::skipped);
  EXPECT_EQ(d.sent_now(), V{"b"});
  d.fail("b");
  EXPECT_EQ(d.inst().state, SagaState::compensated);
  EXPECT_EQ(d.state("a"), StepState::skipped);
}

TEST(Machine, WhenAbsentSkipsAndTruthyRuns) {
  const std::string yaml = "apiVersion: saga/v1\nsaga: w\nsteps: [{name: a, topic: t, command: A, when: \"${input.f}\"}]\n";
  Driver absent(yaml);
  absent.start();
  EXPECT_EQ(absent.state("a"), StepState::skipped);
  EXPECT_EQ(absent.inst().state, SagaState::completed);
  Driver zero(yaml, *Json::parse(R"({"f": 0})"));
  zero.start();
  EXPECT_EQ(zero.state("a"), StepState::running);
}

TEST(Machine, MissingTemplateValueFailsTheStepWithoutSending) {
  Driver d(kShop);  // no input.order
  d.start();
  EXPECT_EQ(d.state("a"), StepState::failed);
  EXPECT_EQ(d.step("a").error, "cannot render the payload: ${input.order} has no value");
  EXPECT_TRUE(d.last().sends.empty());
  EXPECT_EQ(d.inst().state, SagaState::compensated);  // nothing was done, nothing to undo
}

const std::string kPivot = R"(apiVersion: saga/v1
saga: p
defaults: {timeout: 1s, retry: {max_attempts: 2, backoff: fixed, initial: 10ms, max: 10ms, jitter: false}}
steps:
  - {name: a, topic: t, command: A, compensation: {command: U}}
  - {name: p, topic: t, command: P, pivot: true}
  - {name: r, topic: t, command: R, retry: {max_attempts: 3}}
)";

TEST(Machine, PivotFailureCompensatesTheStepsBeforeIt) {
  Driver d(kPivot);
  d.start();
  d.succeed("a");
  d.fail("p");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"a"});
}

TEST(Machine, AfterThePivotFailuresAreRetriedAndNeverCompensated) {
  Driver d(kPivot);
  d.start();
  d.succeed("a");
  d.succeed("p");
  d.fail("r");  // a failure reply is retried after the pivot
  EXPECT_EQ(d.state("r"), StepState::running);
  d.fire("r");
  EXPECT_EQ(d.last().sends.size(), 1u);
  d.fire("r");  // timeout of attempt 2
  d.fire("r");  // backoff
  d.fail("r");  // attempt 3 fails: out of attempts
  EXPECT_EQ(d.inst().state, SagaState::failed);
  EXPECT_EQ(d.state("a"), StepState::succeeded);  // not compensated
  EXPECT_EQ(d.all_sent().back().kind, CommandKind::execute);
  d.apply(CompensateRequested{"try"});
  EXPECT_EQ(*d.last().rejected, "saga sid failed after its pivot; there is nothing to compensate");
}

TEST(Machine, ADuplicateFailureReplyOfOneAttemptCountsOnce) {
  Driver d(kPivot);
  d.start();
  d.succeed("a");
  d.succeed("p");
  d.fail("r");  // attempt 1 failed: backoff
  auto after_first = d.inst();
  d.fail("r");  // the same reply again (redelivered, or a participant that answered twice)
  EXPECT_EQ(d.inst(), after_first);
  EXPECT_TRUE(d.last().records.empty());
  d.fire("r");  // backoff over: attempt 2
  EXPECT_EQ(d.step("r").attempts, 2u);
  d.reply("r", false, *Json::parse(R"({"error":"late"})"), CommandKind::execute, 1);  // attempt 1's, late
  EXPECT_TRUE(d.last().records.empty()) << "superseded by attempt 2";
  EXPECT_EQ(d.state("r"), StepState::running);
}

TEST(Machine, AFailureMessageSayingTimedOutIsStillAKnownOutcome) {
  Driver d(kPivot);
  d.start();
  d.succeed("a");
  d.reply("p", false, *Json::parse(R"({"error":"the bank timed out"})"));
  EXPECT_FALSE(d.step("p").outcome_unknown) << "the participant answered: its outcome is known";
  // The cause is typed: a retriable step that runs out on failure replies is not unknown either.
  Driver r(kPivot);
  r.start();
  r.succeed("a");
  r.succeed("p");
  for (int i = 0; i < 3; ++i) {
    r.reply("r", false, *Json::parse(R"({"error":"gateway timed out"})"));
    if (i < 2) r.fire("r");
  }
  EXPECT_EQ(r.state("r"), StepState::failed);
  EXPECT_FALSE(r.step("r").outcome_unknown);
}

TEST(Machine, RetryForeverNeverGivesUp) {
  Driver d(R"(apiVersion: saga/v1
saga: f
steps:
  - {name: p, topic: t, command: P, pivot: true}
  - {name: r, topic: t, command: R, retry: {max_attempts: forever, initial: 1s, max: 1m}}
)");
  d.start();
  d.succeed("p");
  for (int i = 0; i < 200; ++i) d.fire("r");
  EXPECT_EQ(d.inst().state, SagaState::running);
  EXPECT_EQ(d.step("r").attempts, 101u);
}

TEST(Machine, CompensationRetriesThenFailsTheSagaAndAnOperatorResumes) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  d.fail("b");
  d.succeed("c");
  d.undo("c", false);  // failure: retried after 50ms
  EXPECT_EQ(d.state("c"), StepState::compensating);
  d.fire("c");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"c"});
  d.fire("c");  // attempt 2 times out: out of attempts (2)
  EXPECT_EQ(d.state("c"), StepState::compensation_failed);
  EXPECT_EQ(d.inst().state, SagaState::failed);  // sequential: a is not undone past a failure
  EXPECT_EQ(d.inst().error, "compensation of \"c\" ran out of attempts; run `sagactl compensate sid` to retry "
                            "the remaining compensations");
  d.apply(CompensateRequested{"fixed the payment service"});
  EXPECT_EQ(d.inst().state, SagaState::compensating);
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"c"});
  EXPECT_EQ(d.last().sends[0].attempt, Attempt(3));  // a fresh budget, attempts keep counting
  d.undo("c");
  d.undo("a");
  EXPECT_EQ(d.inst().state, SagaState::compensated);
  EXPECT_EQ(d.inst().error, "compensation requested: fixed the payment service")
      << "the advice to run sagactl compensate is answered, not left behind";
  EXPECT_EQ(d.inst().steps[2].error, "") << "a compensation that succeeded clears its step's error";
}

TEST(Machine, DeadlineCompensatesARunningSaga) {
  Driver d(R"(apiVersion: saga/v1
saga: dl
deadline: 1m
steps:
  - {name: a, topic: t, command: A, compensation: {command: U}}
  - {name: b, topic: t, command: B, timeout: 1h}
)");
  d.start();
  EXPECT_EQ(d.inst().deadline_at, 60000);
  d.succeed("a");
  d.advance(60000);
  d.apply(DeadlineReached{});
  EXPECT_EQ(d.inst().state, SagaState::compensating);
  EXPECT_EQ(d.inst().error, "deadline of 60000ms reached");
  d.fire("b");  // b's attempt is awaited (here: it times out)
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"a"});
}

TEST(Machine, DeadlinePastThePivotLetsTheSagaFinish) {
  Driver d(R"(apiVersion: saga/v1
saga: dl
deadline: 1m
steps:
  - {name: p, topic: t, command: P, pivot: true}
  - {name: b, topic: t, command: B}
)");
  d.start();
  d.succeed("p");
  d.apply(DeadlineReached{});
  EXPECT_EQ(d.inst().state, SagaState::running);
  d.succeed("b");
  EXPECT_EQ(d.inst().state, SagaState::completed);
}

TEST(Machine, OperatorCompensateAwaitsInFlightStepsThenUndoesThem) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  d.apply(CompensateRequested{"customer cancelled"});
  EXPECT_EQ(d.inst().state, SagaState::compensating);
  EXPECT_EQ(d.inst().error, "compensation requested: customer cancelled");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{});  // b and c in flight
  d.succeed("b");
  d.fail("c");
  EXPECT_EQ(d.sent_now(CommandKind::compensate), V{"b"});
}

TEST(Machine, CompensateIsRejectedWhenItCannotApply) {
  Driver d(kPivot);
  d.start();
  d.succeed("a");
  d.apply(CompensateRequested{});
  EXPECT_EQ(*d.last().rejected, "the pivot \"p\" of saga sid is in flight; try again once it has finished");
  d.succeed("p");
  d.apply(CompensateRequested{});
  EXPECT_EQ(*d.last().rejected, "saga sid has passed its pivot \"p\" and cannot be compensated");
  d.succeed("r");
  d.apply(CompensateRequested{});
  EXPECT_EQ(*d.last().rejected, "saga sid has already finished (completed)");
}

TEST(Machine, StaleTimersAreIgnored) {
  Driver d(kShop, order());
  d.start();
  d.succeed("a");
  auto before = d.inst();
  d.apply(TimerFired{d.idx("a"), CommandKind::execute, TimerKind::attempt_timeout, Attempt(1)});
  EXPECT_EQ(d.inst(), before);
  EXPECT_TRUE(d.last().records.empty());
}

TEST(Machine, StartingTwiceIsRejected) {
  Driver d(kShop, order());
  d.start();
  d.start();
  EXPECT_EQ(*d.last().rejected, "saga sid has already started");
}

TEST(Machine, AnInstanceRunsOnlyWithTheDefinitionVersionItWasMadeFor) {
  Driver d(kShop, order());
  d.start();
  auto v2 = compile_saga("apiVersion: saga/v1\nsaga: shop\nversion: 2\nsteps: [{name: a, topic: t, command: A}]\n");
  auto t = transition(*v2, d.inst(), DeadlineReached{}, 0);
  ASSERT_TRUE(t.rejected.has_value());
  EXPECT_EQ(*t.rejected, "instance does not match definition shop v2");
}

}  // namespace
}  // namespace machine_test
