// The orchestrator end to end on a real store and the in-process bus: the documented order
// saga and the travel saga through success, starts and their ids, operator requests,
// deadlines, version pinning, retention, reads, lifecycle events and deliveries. What depends
// on the store (the DurableEngine tests) runs on a SQLite file and on PostgreSQL. Failures of
// participants: engine_failure_test.cpp; of the store, and crashes: engine_crash_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>

#include "engine/store_reads.h"
#include "tests/integration/engine_cases.h"

namespace engine_test {

namespace {

INSTANTIATE_TEST_SUITE_P(On, DurableEngine, ::testing::Values(Backend::sqlite, Backend::postgres),
                         testing_support::BackendName());

TEST_P(DurableEngine, OrderSagaCompletesAndEveryTransitionIsDurable) {
  World w(examples(), GetParam());
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);
  auto cmds = w.commands();
  ASSERT_EQ(cmds.size(), 5u);
  EXPECT_EQ(cmds[0], "execute:reserve-stock#1");
  EXPECT_EQ(std::set<std::string>(cmds.begin() + 1, cmds.begin() + 3),
            (std::set<std::string>{"execute:charge-card#1", "execute:create-invoice#1"}));
  EXPECT_EQ(cmds[3], "execute:confirm-order#1");
  EXPECT_EQ(cmds[4], "execute:ship#1");
  expect_applied_once(w, id);
  // What the engine says is what the file holds, and nothing is left to send.
  w.engine->close();
  auto reopened = w.reader();
  ASSERT_TRUE(reopened);
  auto stored = must(reopened->load(id.value()));
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->state, SagaState::completed);
  EXPECT_TRUE(must(reopened->undelivered()).entries.empty());
  EXPECT_EQ(w.engine->active_sagas(), 0u);
}

TEST(Engine, CommandsCarryEveryProtocolHeader) {
  World w(examples());
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput, "order-1");
  w.settle();
  ASSERT_FALSE(w.published.empty());
  const wire::Message& m = w.published.front();
  EXPECT_EQ(m.topic, "inventory.commands");
  EXPECT_EQ(m.key, "order-1");
  auto h = [&](std::string_view name) { return m.header(name) ? *m.header(name) : std::string("<missing>"); };
  EXPECT_EQ(h("saga-id"), "order-1");
  EXPECT_EQ(h("saga-name"), "order-fulfilment");
  EXPECT_EQ(h("saga-version"), "2");
  EXPECT_EQ(h("saga-step"), "reserve-stock");
  EXPECT_EQ(h("saga-action"), "execute");
  EXPECT_EQ(h("saga-command"), "ReserveStock");
  EXPECT_EQ(h("message-id"), "order-1/reserve-stock/execute/1");
  EXPECT_EQ(h("idempotency-key"), "order-1/reserve-stock/execute");
  EXPECT_EQ(h("reply-to"), "order-fulfilment.replies");
  EXPECT_EQ(h("attempt"), "1");
  EXPECT_TRUE(std::regex_match(h("traceparent"), std::regex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"))) << h("traceparent");
  auto payload = Json::parse(m.value);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload->dump(), R"({"orderId":"o-1","items":[{"sku":"a","qty":1}]})");
}

TEST(Engine, StartValidatesInputAgainstTheSchemaAndStoresNothingWhenItFails) {
  World w(examples());
  w.boot();
  auto r = w.engine->start("order-fulfilment", *Json::parse(R"({"orderId": "", "amount": -1})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::invalid_input);
  EXPECT_NE(r.error().message.find("$.orderId"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("$.amount"), std::string::npos) << r.error().message;
  w.settle();
  EXPECT_TRUE(must(w.engine->list({})).sagas.empty());
  EXPECT_TRUE(w.published.empty());

  auto unknown = w.engine->start("order-fulfillment", Json::object());
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, Errc::unknown_saga);
  EXPECT_NE(unknown.error().message.find("loaded: order-fulfilment, travel-booking"), std::string::npos)
      << unknown.error().message;

  auto bad_id = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), StartOptions{"has space"});
  ASSERT_FALSE(bad_id.ok());
  EXPECT_EQ(bad_id.error().code, Errc::invalid_input);
}

TEST_P(DurableEngine, ARepeatedIdReturnsTheExistingSagaEvenAfterARestart) {
  World w(examples(), GetParam());
  w.boot();
  auto first = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), StartOptions{"order-7"});
  auto again = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), StartOptions{"order-7"});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_FALSE(first->existed);
  EXPECT_TRUE(again->existed);
  EXPECT_EQ(w.run(first->id), SagaState::completed);
  w.crash();
  w.boot();
  auto after = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), StartOptions{"order-7"});
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->existed);
  auto other = w.engine->start("travel-booking", *Json::parse(kTripInput), StartOptions{"order-7"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().code, Errc::conflict);
  w.settle();
  EXPECT_EQ(must(w.engine->list({})).sagas.size(), 1u);
  EXPECT_EQ(w.commands("execute").size(), 5u);
}

TEST_P(DurableEngine, ARepeatedIdWithADifferentInputIsRefusedNotSilentlyDropped) {
  World w(examples(), GetParam());
  w.boot();
  Json input = *Json::parse(kOrderInput);
  Json other_input = input;
  other_input.set("orderId", Json("another-order"));
  ASSERT_TRUE(w.engine->start("order-fulfilment", input, StartOptions{"order-8"}).ok());
  auto while_running = w.engine->start("order-fulfilment", other_input, StartOptions{"order-8"});
  ASSERT_FALSE(while_running.ok());
  EXPECT_EQ(while_running.error().code, Errc::conflict);
  EXPECT_NE(while_running.error().message.find("saga order-8 exists with a different input"), std::string::npos)
      << while_running.error().message;
  w.settle();
  w.crash();
  w.boot();
  auto from_the_store = w.engine->start("order-fulfilment", other_input, StartOptions{"order-8"});
  ASSERT_FALSE(from_the_store.ok());
  EXPECT_EQ(from_the_store.error().code, Errc::conflict);
  auto same = w.engine->start("order-fulfilment", input, StartOptions{"order-8"});
  ASSERT_TRUE(same.ok()) << same.error().message;
  EXPECT_TRUE(same->existed);
}

TEST_P(DurableEngine, StartIsReportedDurableOnlyAfterItsCommit) {
  World w(examples(), GetParam());
  w.boot();
  auto reader = [&] { return w.reader(); };
  std::string id;
  bool durable = false;
  auto r = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), {}, [&](const Status& st) {
    EXPECT_TRUE(st.ok());
    EXPECT_TRUE(must(reader()->load(id)));  // in the file by the time the caller hears of it
    durable = true;
  });
  ASSERT_TRUE(r.ok());
  id = r->id.value();
  EXPECT_FALSE(durable);
  EXPECT_FALSE(must(reader()->load(id)));
  w.settle();
  EXPECT_TRUE(durable);
}

TEST(Engine, OperatorCompensateOfARunningSagaAwaitsInFlightStepsThenUndoesThem) {
  World w(examples());
  w.copies = [](const participant::Command& c) { return c.step == "charge-card" && c.action == "execute" ? 0 : 1; };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  Status st = w.engine->compensate(id, "customer cancelled");
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(w.engine->status(id)->state, SagaState::compensating);
  EXPECT_EQ(w.run(id), SagaState::compensated);
  expect_waves(w, {{"charge-card", "create-invoice"}, {"reserve-stock"}});
  EXPECT_NE(w.engine->status(id)->error.find("customer cancelled"), std::string::npos);
  // Nothing after the request: the charge was not retried once compensation began.
  EXPECT_EQ(w.commands("execute").size(), 3u);

  Status again = w.engine->compensate(id, "twice");
  EXPECT_EQ(again.code, Errc::conflict);
  EXPECT_NE(again.message.find("already finished (compensated)"), std::string::npos) << again.message;
  EXPECT_EQ(w.engine->compensate(SagaId("nope"), "x").code, Errc::not_found);
}

const char* const kTwoSteps = R"(apiVersion: saga/v1
saga: pair
version: 1
defaults: {timeout: 1s, retry: {max_attempts: 2, backoff: fixed, initial: 100ms, jitter: false}}
compensation: {retry: {max_attempts: 2, backoff: fixed, initial: 100ms, jitter: false}}
steps:
  - {name: a, topic: t.a, command: DoA, payload: {}, compensation: {command: UndoA, payload: {}}}
  - {name: b, topic: t.b, command: DoB, payload: {}, compensation: {command: UndoB, payload: {}}}
)";

TEST(Engine, CompensationOutOfRetriesEndsFailedAndCompensateResumesIt) {
  World w({compile_yaml(kTwoSteps)});
  bool undo_works = false;
  w.behaviour = [&](const participant::Command& c) {
    if (c.command == "DoB") return participant::Reply::failure("b is broken");
    if (c.command == "UndoA" && !undo_works) return participant::Reply::failure("undo down");
    return participant::Reply::ok();
  };
  w.boot();
  SagaId id = w.start("pair", "{}");
  EXPECT_EQ(w.run(id), SagaState::failed);
  auto s = w.engine->status(id);
  EXPECT_EQ(s->steps[0].state, StepState::compensation_failed);
  EXPECT_EQ(s->steps[0].compensation_attempts, 2u);
  EXPECT_EQ(w.engine->active_sagas(), 0u);

  // An operator fixes the participant and resumes, even after a restart.
  w.crash();
  w.boot();
  undo_works = true;
  Status st = w.engine->compensate(id, "undo fixed");
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(w.run(id), SagaState::compensated);
  EXPECT_EQ(w.engine->status(id)->steps[0].state, StepState::compensated);
}

TEST(Engine, TheDeadlineAbortsASagaAndCompensatesIt) {
  World w({compile_yaml(std::string(kTwoSteps) + "deadline: 500ms\n")});
  w.copies = [](const participant::Command& c) { return c.step == "b" && c.action == "execute" ? 0 : 1; };
  w.boot();
  SagaId id = w.start("pair", "{}");
  EXPECT_EQ(w.run(id), SagaState::compensated);
  auto started = std::find_if(w.events.begin(), w.events.end(), [](const Event& e) { return e.type == sagas::EventType::compensation_started; });
  ASSERT_NE(started, w.events.end());
  EXPECT_EQ(started->detail, "deadline of 500ms reached");
  EXPECT_EQ(started->at - w.engine->status(id)->created_at, 500);
  // b was in flight when the deadline passed: awaited (timed out), then undone with a.
  expect_waves(w, {{"b"}, {"a"}});
  EXPECT_EQ(w.commands("execute"), (std::vector<std::string>{"a#1", "b#1"}));
}

std::string version_2(bool with_step_c) {
  std::string v2 = kTwoSteps;
  v2.replace(v2.find("version: 1"), 10, "version: 2");
  if (with_step_c) v2 += "  - {name: c, topic: t.c, command: DoC, payload: {}, compensation: {command: UndoC, payload: {}}}\n";
  return v2;
}

TEST(Engine, RunningSagasKeepTheVersionTheyStartedWith) {
  auto v1 = compile_yaml(kTwoSteps);
  auto v2 = compile_yaml(version_2(true));
  World w({v1, v2});
  w.loaded = {v1};
  w.copies = [](const participant::Command&) { return 0; };  // keep them running
  w.boot();
  SagaId old_one = w.start("pair", "{}");
  w.settle();
  // v2 is deployed while the v1 saga is in flight.
  w.crash();
  w.loaded = {v1, v2};
  w.boot();
  SagaId new_one = w.start("pair", "{}");
  w.settle();
  EXPECT_EQ(w.engine->status(new_one)->version, 2);  // new starts take the newest version
  EXPECT_EQ(w.engine->status(old_one)->version, 1);
  w.copies = [](const participant::Command&) { return 1; };
  EXPECT_EQ(w.run(old_one), SagaState::completed);
  EXPECT_EQ(w.run(new_one), SagaState::completed);
  EXPECT_EQ(w.engine->status(old_one)->steps.size(), 2u);
  EXPECT_EQ(w.engine->status(new_one)->steps.size(), 3u);
  EXPECT_EQ(w.engine->status(new_one)->steps[2].state, StepState::succeeded);
  for (const auto& m : w.published) {
    if (m.topic == "t.c") {
      EXPECT_EQ(m.key, new_one.value());
    }
  }
}

TEST(Engine, OpenRefusesWhenAnUnfinishedSagasVersionIsNotLoaded) {
  auto v1 = compile_yaml(kTwoSteps);
  auto v2 = compile_yaml(version_2(false));
  World w({v1, v2});
  w.loaded = {v1};
  w.copies = [](const participant::Command&) { return 0; };
  w.boot();
  w.start("pair", "{}");
  w.settle();
  w.engine->close();
  w.crash();
  w.loaded = {v2};
  Status st = w.try_boot();
  EXPECT_EQ(st.code, Errc::unknown_saga);
  EXPECT_NE(st.message.find("1 unfinished saga(s) of pair v1 need that definition version"), std::string::npos)
      << st.message;
  w.engine.reset();
}

TEST_P(DurableEngine, RetentionPrunesFinishedSagasOnlyOnceTheyAreOldEnough) {
  World w(examples(), GetParam());
  w.options.retention = 10'000;
  w.options.retention_interval = 1'000;
  w.boot();
  SagaId done = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(done), SagaState::completed);
  w.copies = [](const participant::Command&) { return 0; };
  SagaId running = w.start("order-fulfilment", kOrderInput);
  w.settle();
  w.clock->advance(5'000);
  w.settle();
  EXPECT_TRUE(w.engine->status(done));
  w.clock->advance(6'000);
  w.settle();
  EXPECT_FALSE(w.engine->status(done));
  EXPECT_TRUE(must(w.engine->history(done)).empty());
  EXPECT_TRUE(w.engine->status(running));
  EXPECT_EQ(w.engine->stats().pruned, 1u);
  // Pruned beside the loop, on the thread that commits: the loop never waited on it.
  EXPECT_NE(w.store->pruned_on.load(), std::thread::id());
  EXPECT_NE(w.store->pruned_on.load(), std::this_thread::get_id());
}

// The admin API's reads wait for what is pending without blocking the loop: read_committed
// reads once the transitions applied before it are in the store, on a thread of its own, and
// answers on the loop.
TEST_P(DurableEngine, ReadCommittedReadsOffTheLoopOnceWhatIsPendingIsInTheStore) {
  World w(examples(), GetParam());
  w.copies = [](const participant::Command&) { return 0; };  // the saga waits at its first step
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);  // applied, not yet committed
  std::thread::id read_on;
  std::optional<Errc> seen;
  std::optional<std::thread::id> answered_on;
  // What the work holds (the admin server's reply handler, with its connection) ends on the loop.
  std::atomic<std::thread::id> released_on;
  struct Held {
    std::atomic<std::thread::id>& on;
    ~Held() { on = std::this_thread::get_id(); }
  };
  w.engine->read_committed([&, held = std::make_shared<Held>(Held{released_on})](
                               engine::StoreReads& reads) -> engine::ReadThen {
    read_on = std::this_thread::get_id();
    auto st = reads.status(id);
    seen = st ? Errc::ok : st.error().code;
    return [&] { answered_on = std::this_thread::get_id(); };
  });
  EXPECT_FALSE(answered_on) << "answered inside the call";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((!answered_on || released_on.load() == std::thread::id()) && std::chrono::steady_clock::now() < deadline) {
    w.io->restart();
    w.io->run_one_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(answered_on);
  EXPECT_EQ(*answered_on, std::this_thread::get_id()) << "the answer runs on the loop";
  EXPECT_EQ(released_on.load(), std::this_thread::get_id()) << "the work was destroyed off the loop";
  EXPECT_NE(read_on, std::this_thread::get_id()) << "the read ran on the loop";
  EXPECT_EQ(*seen, Errc::ok) << "the start was committed before the read";
  // With nothing pending, after_commits is posted at once.
  bool again = false;
  w.engine->after_commits([&] { again = true; });
  EXPECT_FALSE(again);
  w.settle();
  EXPECT_TRUE(again);
}

TEST_P(DurableEngine, ACleanCloseLosesNothing) {
  World w(examples(), GetParam());
  w.boot();
  std::vector<SagaId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(w.start("order-fulfilment", kOrderInput));
  w.engine->close();  // before anything ran: the starts are committed by close
  w.crash();
  w.boot();
  for (const auto& id : ids) EXPECT_EQ(w.run(id), SagaState::completed);
  for (const auto& id : ids) expect_applied_once(w, id);
}

TEST_P(DurableEngine, LifecycleEventsArePublishedAfterTheirCommitInOrder) {
  World w(examples(), GetParam());
  w.boot();
  std::vector<std::string> seen;
  w.engine->on_event([&](const Event& e) {
    // Already in the file when subscribers hear of it.
    auto rows = must(w.reader()->history(e.saga_id.value()));
    EXPECT_TRUE(std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return r.event == e.type; })) << e.type;
    seen.push_back(std::string(sagas::to_string(e.type)));
  });
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(seen.front(), "saga-started");
  EXPECT_EQ(seen.back(), "saga-completed");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "step-succeeded"), 5);
}

TEST(Engine, AFailedDeliveryIsSentAgainLater) {
  World w(examples());
  w.boot();
  int failures = 0;
  w.transport->fail_send = [&](const wire::Message&) { return failures++ < 2 ? std::string("broker down") : std::string(); };
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  EXPECT_TRUE(w.published.empty());
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(w.engine->stats().send_failures, 2u);
  EXPECT_EQ(w.commands("execute").size(), 5u);
}

// A command that grew too large from an earlier reply is refused by the broker for good: its
// step fails with that error and the saga compensates, instead of sending it for ever.
TEST(Engine, ACommandTheBrokerRefusesAsTooLargeFailsItsStep) {
  auto compiled = dsl::compile(R"(apiVersion: saga/v1
saga: big-reply
defaults: {timeout: 5s, reply_topic: big.replies}
steps:
  - name: a
    topic: a.commands
    command: A
    compensation: {command: UndoA}
  - name: b
    topic: b.commands
    command: B
    payload: {blob: "${steps.a.reply.blob}"}
)",
                               "big.yaml");
  ASSERT_TRUE(compiled.definition) << (compiled.diagnostics.empty() ? "" : dsl::format(compiled.diagnostics[0]));
  World w({compiled.definition});
  w.behaviour = [](const participant::Command& c) {
    Json body = Json::object();
    if (c.command == "A") body.set("blob", Json(std::string(200'000, 'x')));
    return participant::Reply::ok(body);
  };
  w.boot();
  w.transport->max_message_bytes = 100'000;
  SagaId id = w.start("big-reply", "{}");
  EXPECT_EQ(w.run(id), SagaState::compensated);
  auto status = must(w.engine->status(id));
  EXPECT_NE(status.steps[1].error.find("cannot be sent: Broker: Message size too large"), std::string::npos)
      << status.steps[1].error;
  auto handled = [&](const std::string& command) {
    return std::count_if(w.handled.begin(), w.handled.end(), [&](const participant::Command& c) { return c.command == command; });
  };
  EXPECT_EQ(handled("UndoA"), 1);
  EXPECT_EQ(handled("B"), 0);
  EXPECT_EQ(w.engine->stats().send_failures, 1u) << "refused once, not retried";
}

// A start whose first command, rendered from its input, would be over the limit is refused
// before anything is stored.
TEST(Engine, AStartWhoseCommandWouldBeTooLargeIsRefused) {
  World w(examples());
  w.options.max_message_bytes = 10'000;
  w.boot();
  std::string items = "[";
  for (int i = 0; i < 1000; ++i) items += std::string(i ? "," : "") + R"({"sku": "s)" + std::to_string(i) + R"(", "qty": 1})";
  auto r = w.engine->start("order-fulfilment",
                           *Json::parse(R"({"orderId": "o-1", "amount": 1, "express": true, "items": )" + items + "]}"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::too_large);
  EXPECT_NE(r.error().message.find("step \"reserve-stock\" would be"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("over the broker's limit of 10000"), std::string::npos) << r.error().message;
  EXPECT_TRUE(must(w.engine->list({})).sagas.empty());
}

}  // namespace
}  // namespace engine_test
