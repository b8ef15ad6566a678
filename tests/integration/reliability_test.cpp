// The engine's reliability rules on a real SQLite file and the in-process bus: time is the
// participant's (no timeout while the orchestrator cannot read its replies), readiness,
// and replies that waited through a crash are applied before overdue timers.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/must.h"
#include "tests/integration/engine_world.h"
#include "tests/support/must.h"

namespace engine_test {

using testing_support::must;

namespace {

const char* const kOrderInput = R"({"orderId": "o-1", "amount": 42, "items": [{"sku": "a", "qty": 1}], "express": true})";
constexpr TimeMs kLongOutage = 10 * 60 * 1000;  // far beyond every timeout and retry of the order saga

bool any_timeout(const std::vector<std::string>& events) {
  return std::any_of(events.begin(), events.end(), [](const std::string& e) {
    return e.rfind("step-timed-out", 0) == 0 || e.rfind("compensation-timed-out", 0) == 0;
  });
}

TEST(TimeIsTheParticipants, NoStepTimesOutWhileTheOrchestratorCannotReadItsReplies) {
  World w({example("order-fulfilment")});
  w.boot();
  w.transport->set_offline(true);  // broker unreachable, or partitions not yet assigned
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  ASSERT_FALSE(w.commands().empty()) << "the first command is sent";
  // The participant answered at once, but the reply cannot be read; minutes pass.
  for (int i = 0; i < 20; ++i) {
    w.clock->advance(kLongOutage / 20);
    w.settle();
  }
  EXPECT_FALSE(any_timeout(w.event_types(id))) << ::testing::PrintToString(w.event_types(id));
  EXPECT_EQ(w.engine->status(id)->state, SagaState::running);

  w.transport->set_offline(false);
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_FALSE(any_timeout(w.event_types(id))) << ::testing::PrintToString(w.event_types(id));
  EXPECT_TRUE(w.commands("compensate").empty());
}

TEST(TimeIsTheParticipants, AStepWhoseParticipantIsSilentStillTimesOutOnceCaughtUp) {
  World w({example("order-fulfilment")});
  w.copies = [](const participant::Command& c) { return c.step == "reserve-stock" && c.action == "execute" ? 0 : 1; };  // silent
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::compensated);
  auto events = w.event_types(id);
  EXPECT_NE(std::find(events.begin(), events.end(), "step-timed-out:reserve-stock"), events.end());
}

TEST(TimeIsTheParticipants, RepliesThatWaitedThroughACrashAreAppliedBeforeOverdueTimers) {
  World w({example("order-fulfilment")});
  w.boot();
  w.transport->set_offline(true);
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  w.crash();  // the reply to reserve-stock waits in the topic

  w.boot();
  w.transport->set_offline(true);  // the restarted consumer has no partitions yet
  w.clock->advance(kLongOutage);   // every persisted timer is long overdue
  w.settle();
  EXPECT_FALSE(w.engine->ready());
  EXPECT_FALSE(any_timeout(w.event_types(id)));

  w.transport->set_offline(false);
  w.settle();
  EXPECT_TRUE(w.engine->ready());
  EXPECT_EQ(w.run(id), SagaState::completed);
  auto events = w.event_types(id);
  EXPECT_FALSE(any_timeout(events)) << ::testing::PrintToString(events);
  EXPECT_TRUE(w.commands("compensate").empty());
}

// The participant answers every command twice; the two failure replies of one attempt
// arrive in one batch, before either is committed.
TEST(DuplicateReplies, TwoCopiesOfOneFailureInOneBatchCountAsOneFailedAttempt) {
  World w({example("order-fulfilment")});
  w.copies = [](const participant::Command&) { return 2; };
  w.behaviour = [](const participant::Command& c) {
    if (c.step == "ship" && c.attempt == 1) return participant::Reply::failure("carrier busy");
    return participant::Reply::ok(success_body(c));
  };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);
  auto s = must(w.engine->status(id));
  auto ship = std::find_if(s.steps.begin(), s.steps.end(), [](const StepStatus& st) { return st.name == "ship"; });
  ASSERT_NE(ship, s.steps.end());
  EXPECT_EQ(ship->attempts, 2u);
  auto rows = must(w.engine->history(id));
  EXPECT_EQ(std::count_if(rows.begin(), rows.end(),
                          [](const auto& r) { return r.event == sagas::EventType::step_attempt_failed; }),
            1);
}

TEST(Retention, ALateReplyToAPrunedSagaIsRecognisedNotDeadLettered) {
  World w({example("order-fulfilment")});
  w.options.retention = 60'000;
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);
  w.clock->advance(2 * 60'000 + w.options.retention_interval);
  w.settle();
  ASSERT_EQ(w.engine->stats().pruned, 1u);
  // A participant's reply, redelivered long after.
  wire::Message late = w.bus.log("order-fulfilment.replies").front();
  w.bus.publish(late);
  w.settle();
  EXPECT_EQ(w.engine->stats().dead_letters, 0u);
  EXPECT_TRUE(w.bus.log("order-fulfilment.replies.dlq").empty());
}

TEST(Readiness, TheEngineIsReadyOnlyOnceItHasCaughtUpAfterOpening) {
  World w({example("order-fulfilment")});
  w.boot();
  EXPECT_FALSE(w.engine->ready()) << "nothing consumed yet";
  w.settle();
  EXPECT_TRUE(w.engine->ready());
  w.transport->set_offline(true);
  EXPECT_FALSE(w.engine->ready()) << "the transport lost its partitions";
}

}  // namespace
}  // namespace engine_test
