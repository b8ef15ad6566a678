// The orchestrator end to end on a real store and the in-process bus: the documented order
// saga and the travel saga through success, business failures, timeouts, duplicate and late
// replies, malformed replies, operator requests, deadlines, version pinning, retention, and
// crashes at every commit point with restart. What depends on the store (durability,
// recovery, crashes: the DurableEngine tests) runs on a SQLite file and on PostgreSQL.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "tests/support/must.h"
#include "engine/store_reads.h"
#include "tests/integration/engine_world.h"
#include "tests/support/postgres_server.h"

namespace engine_test {
using testing_support::must;
using testing_support::name_of;

namespace {

const char* const kOrderInput = R"({"orderId": "o-1", "amount": 42, "items": [{"sku": "a", "qty": 1}], "express": true})";
const char* const kTripInput =
    R"({"tripId": "trip-0123abcd", "traveller": {"name": "Ada", "email": "ada@example.com"},
        "from": "LHR", "to": "JFK", "nights": 3, "carClass": "economy"})";

struct SagaCase {
  std::string saga;
  std::string input;
};
SagaCase order() { return {"order-fulfilment", kOrderInput}; }
SagaCase travel() { return {"travel-booking", kTripInput}; }

std::vector<sagas::DefinitionPtr> examples() { return {example("order-fulfilment"), example("travel-booking")}; }

// The compensations sent (first attempts only), checked against waves: each wave is sent
// completely, in any order within it, before any step of the next.
void expect_waves(const World& w, const std::vector<std::set<std::string>>& waves) {
  std::vector<std::string> sent;
  for (const auto& c : w.commands("compensate")) {
    if (c.size() > 2 && c.substr(c.size() - 2) == "#1") sent.push_back(c.substr(0, c.size() - 2));
  }
  std::size_t total = 0;
  for (const auto& wave : waves) total += wave.size();
  ASSERT_EQ(sent.size(), total) << ::testing::PrintToString(sent);
  std::size_t at = 0;
  for (const auto& wave : waves) {
    std::set<std::string> got(sent.begin() + static_cast<long>(at), sent.begin() + static_cast<long>(at + wave.size()));
    EXPECT_EQ(got, wave) << "compensations sent: " << ::testing::PrintToString(sent);
    at += wave.size();
  }
}

void expect_steps_once(const World& w, const SagaId& id);

// Every handler ran once per idempotency key (a command that failed did nothing, so it may
// run again), and every step succeeded at most once.
void expect_applied_once(const World& w, const SagaId& id) {
  for (const auto& [key, n] : w.calls()) EXPECT_EQ(n, 1) << key;
  expect_steps_once(w, id);
}

void expect_steps_once(const World& w, const SagaId& id) {
  std::map<std::string, int> succeeded;
  for (const auto& row : must(w.engine->history(id))) {
    if (row.event == sagas::EventType::step_succeeded || row.event == sagas::EventType::step_compensated) ++succeeded[std::string(sagas::to_string(row.event)) + ":" + row.step];
  }
  for (const auto& [what, n] : succeeded) EXPECT_EQ(n, 1) << what;
}

// The tests whose outcome rests on what the store keeps, on each store.
class DurableEngine : public ::testing::TestWithParam<Backend> {};
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

struct FailureCase {
  SagaCase saga;
  std::string step;
  std::vector<std::set<std::string>> waves;
};

class BusinessFailure : public ::testing::TestWithParam<FailureCase> {};

TEST_P(BusinessFailure, CompensatesTheFinishedStepsInStrategyOrder) {
  const auto& p = GetParam();
  World w(examples());
  w.behaviour = [&](const participant::Command& c) {
    return c.step == p.step && c.action == "execute" ? participant::Reply::failure("out of " + c.step)
                                                     : participant::Reply::ok(success_body(c));
  };
  w.boot();
  SagaId id = w.start(p.saga.saga, p.saga.input);
  EXPECT_EQ(w.run(id), SagaState::compensated);
  expect_waves(w, p.waves);
  auto s = w.engine->status(id);
  ASSERT_TRUE(s);
  EXPECT_NE(s->error.find("out of " + p.step), std::string::npos) << s->error;
  for (const auto& step : s->steps) {
    if (step.name == p.step) {
      EXPECT_EQ(step.state, StepState::failed);
    }
  }
  // A business failure is not retried.
  for (const auto& c : w.commands("execute")) EXPECT_EQ(c.find("#2"), std::string::npos) << c;
  expect_applied_once(w, id);
}

INSTANTIATE_TEST_SUITE_P(
    Sagas, BusinessFailure,
    ::testing::Values(
        FailureCase{order(), "reserve-stock", {}},
        FailureCase{order(), "charge-card", {{"create-invoice"}, {"reserve-stock"}}},
        FailureCase{order(), "create-invoice", {{"charge-card"}, {"reserve-stock"}}},
        FailureCase{order(), "confirm-order", {{"charge-card", "create-invoice"}, {"reserve-stock"}}},
        FailureCase{travel(), "hold-payment", {}},
        FailureCase{travel(), "book-flight", {{"book-hotel", "rent-car", "hold-payment"}}},
        FailureCase{travel(), "book-hotel", {{"book-flight", "rent-car", "hold-payment"}}},
        FailureCase{travel(), "rent-car", {{"book-flight", "book-hotel", "hold-payment"}}},
        FailureCase{travel(), "capture-payment", {{"book-flight", "book-hotel", "rent-car", "hold-payment"}}}),
    [](const auto& param_info) {
      std::string n = param_info.param.saga.saga.substr(0, param_info.param.saga.saga.find('-')) + "_" + param_info.param.step;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(Engine, AFailureAfterThePivotIsRetriedNotCompensated) {
  World w(examples());
  int failures = 0;
  w.behaviour = [&](const participant::Command& c) {
    if (c.step == "ship" && failures < 2) {
      ++failures;
      return participant::Reply::failure("no truck");
    }
    return participant::Reply::ok(success_body(c));
  };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);
  auto ships = w.commands("execute");
  EXPECT_EQ(std::count_if(ships.begin(), ships.end(), [](const auto& c) { return c.rfind("ship#", 0) == 0; }), 3);
  EXPECT_TRUE(w.commands("compensate").empty());
}

class Timeout : public ::testing::TestWithParam<FailureCase> {};

TEST_P(Timeout, RetriesWithTheSameKeyThenCompensatesTheUnknownOutcomeToo) {
  const auto& p = GetParam();
  World w(examples());
  w.copies = [&](const participant::Command& c) { return c.step == p.step && c.action == "execute" ? 0 : 1; };
  w.boot();
  SagaId id = w.start(p.saga.saga, p.saga.input);
  EXPECT_EQ(w.run(id), SagaState::compensated);
  // Every attempt: a new message id and attempt header, the same idempotency key.
  std::set<std::string> keys;
  std::set<std::string> message_ids;
  int attempts = 0;
  for (const auto& m : w.published) {
    const std::string* step = m.header("saga-step");
    if (step && *step == p.step && *m.header("saga-action") == "execute" && m.header("message-id")) {
      ++attempts;
      keys.insert(*m.header("idempotency-key"));
      message_ids.insert(*m.header("message-id"));
      EXPECT_EQ(*m.header("attempt"), std::to_string(attempts));
    }
  }
  auto def = p.saga.saga == "order-fulfilment" ? example("order-fulfilment") : example("travel-booking");
  EXPECT_EQ(attempts, static_cast<int>(*def->step(*def->find_step(p.step)).execute.retry.max_attempts));
  EXPECT_EQ(keys.size(), 1u);
  EXPECT_EQ(message_ids.size(), static_cast<std::size_t>(attempts));
  expect_waves(w, p.waves);
}

INSTANTIATE_TEST_SUITE_P(
    Sagas, Timeout,
    ::testing::Values(
        FailureCase{order(), "reserve-stock", {{"reserve-stock"}}},
        FailureCase{order(), "charge-card", {{"charge-card", "create-invoice"}, {"reserve-stock"}}},
        FailureCase{order(), "create-invoice", {{"charge-card", "create-invoice"}, {"reserve-stock"}}},
        FailureCase{order(), "confirm-order", {{"charge-card", "create-invoice"}, {"reserve-stock"}}},
        FailureCase{travel(), "hold-payment", {{"hold-payment"}}},
        FailureCase{travel(), "book-flight", {{"book-flight", "book-hotel", "rent-car", "hold-payment"}}},
        FailureCase{travel(), "book-hotel", {{"book-flight", "book-hotel", "rent-car", "hold-payment"}}},
        FailureCase{travel(), "rent-car", {{"book-flight", "book-hotel", "rent-car", "hold-payment"}}},
        FailureCase{travel(), "capture-payment",
                    {{"book-flight", "book-hotel", "rent-car", "hold-payment", "capture-payment"}}}),
    [](const auto& param_info) {
      std::string n = param_info.param.saga.saga.substr(0, param_info.param.saga.saga.find('-')) + "_" + param_info.param.step;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(Engine, DuplicateRepliesAreRecognisedAndNeverAppliedTwice) {
  for (const auto& c : {order(), travel()}) {
    World w(examples());
    w.copies = [](const participant::Command&) { return 2; };
    w.boot();
    SagaId id = w.start(c.saga, c.input);
    EXPECT_EQ(w.run(id), SagaState::completed);
    EXPECT_GE(w.engine->stats().duplicates, 4u);
    EXPECT_EQ(w.engine->stats().dead_letters, 0u);
    expect_applied_once(w, id);
  }
}

TEST(Engine, ALateSuccessOfAnEarlierAttemptCountsAfterItTimedOut) {
  World w(examples());
  w.copies = [](const participant::Command& c) { return c.step == "reserve-stock" ? 0 : 1; };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  wire::Message first = w.published.front();
  w.clock->set(*w.clock->next_wake());  // attempt 1 times out
  w.settle();
  // Attempt 1's reply arrives now, late.
  w.bus.publish(wire::reply_message(first, true, success_body(*participant::read_command(first, nullptr))));
  w.copies = [](const participant::Command&) { return 1; };
  EXPECT_EQ(w.run(id), SagaState::completed);
  auto hist = must(w.engine->history(id));
  EXPECT_TRUE(std::any_of(hist.begin(), hist.end(), [](const auto& r) {
    return r.event == sagas::EventType::step_succeeded && r.step == "reserve-stock" && r.detail.find("attempt 1") != std::string::npos;
  }));
  EXPECT_TRUE(w.commands("compensate").empty());
}

TEST(Engine, MalformedAndUnmatchedRepliesGoToTheDeadLetterTopicAndTheEngineCarriesOn) {
  World w(examples());
  w.copies = [](const participant::Command& c) { return c.step == "reserve-stock" ? 0 : 1; };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput, "o-9");
  w.settle();
  wire::Message good = wire::reply_message(w.published.front(), true, Json::object());
  auto variant = [&](auto change) {
    wire::Message m = good;
    change(m);
    return m;
  };
  auto set = [](wire::Message& m, const std::string& name, const std::string& value) {
    for (auto& [k, v] : m.headers) {
      if (k == name) v = value;
    }
  };
  std::vector<std::pair<wire::Message, std::string>> bad = {
      {variant([](wire::Message& m) { m.value = "{not json"; }), "the value is not JSON"},
      {variant([](wire::Message& m) {
         std::erase_if(m.headers, [](const auto& h) { return h.first == "in-reply-to"; });
       }),
       "missing header \"in-reply-to\""},
      {variant([&](wire::Message& m) {
         set(m, "saga-id", "nobody");
         m.key = "nobody";
       }),
       "unknown saga id \"nobody\""},
      {variant([&](wire::Message& m) { set(m, "saga-id", "another"); }), "name different sagas"},
      {variant([&](wire::Message& m) { m.headers.emplace_back("outcome", "failure"); }), "appears 2 times"},
      {variant([](wire::Message& m) { m.value = "[1, 2]"; }), "not an object"},
      {variant([&](wire::Message& m) { set(m, "saga-step", "teleport"); }), "has no step \"teleport\""},
      {variant([&](wire::Message& m) { set(m, "outcome", "maybe"); }), "must be success or failure"},
      {variant([&](wire::Message& m) { set(m, "saga-action", "undo"); }), "must be execute or compensate"},
      {variant([&](wire::Message& m) { set(m, "in-reply-to", "o-9/reserve-stock/execute/7"); }), "matches no execute"},
  };
  for (const auto& [m, why] : bad) w.bus.publish(m);
  w.settle();
  const auto& dlq = w.bus.log("order-fulfilment.replies.dlq");
  ASSERT_EQ(dlq.size(), bad.size());
  for (std::size_t i = 0; i < bad.size(); ++i) {
    const std::string* error = dlq[i].header("error");
    ASSERT_NE(error, nullptr);
    EXPECT_NE(error->find(bad[i].second), std::string::npos) << *error;
    EXPECT_EQ(dlq[i].value, bad[i].first.value);
    EXPECT_EQ(dlq[i].headers.size(), bad[i].first.headers.size() + 1);  // the originals, intact, plus error
  }
  EXPECT_EQ(w.engine->stats().dead_letters, bad.size());
  w.copies = [](const participant::Command&) { return 1; };
  EXPECT_EQ(w.run(id), SagaState::completed);
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
  w.engine->read_committed([&](engine::StoreReads& reads) -> engine::ReadThen {
    read_on = std::this_thread::get_id();
    auto st = reads.status(id);
    seen = st ? Errc::ok : st.error().code;
    return [&] { answered_on = std::this_thread::get_id(); };
  });
  EXPECT_FALSE(answered_on) << "answered inside the call";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!answered_on && std::chrono::steady_clock::now() < deadline) {
    w.io->restart();
    w.io->run_one_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(answered_on);
  EXPECT_EQ(*answered_on, std::this_thread::get_id()) << "the answer runs on the loop";
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

TEST_P(DurableEngine, AFailedCommitIsRetriedAndNothingIsSentBeforeItSucceeds) {
  World w(examples(), GetParam());
  w.faults = [](FaultyStore& s) { s.fail_commits = 3; };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  EXPECT_TRUE(w.published.empty());
  EXPECT_EQ(w.engine->stats().commit_failures, 1u);
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(w.engine->stats().commit_failures, 3u);
  expect_applied_once(w, id);
}

TEST(Engine, AFencedStoreStopsTheEngineForGoodAndSaysWhy) {
  World w(examples());
  std::vector<std::string> told;
  w.options.on_fenced = [&](const std::string& why) { told.push_back(why); };
  w.boot();
  w.store->fenced = true;
  std::optional<Status> start_heard;
  auto started = w.engine->start("order-fulfilment", sagas::Json::parse(kOrderInput).value(), {},
                                 [&](const Status& st) { start_heard = st; });
  ASSERT_TRUE(started.ok());
  bool reads_answered = false;
  w.engine->after_commits([&] { reads_answered = true; });
  w.settle();
  ASSERT_EQ(told.size(), 1u);
  // Whoever waited on the refused commit hears why, and a waiting read is not left hanging.
  ASSERT_TRUE(start_heard);
  EXPECT_EQ(start_heard->code, Errc::store);
  EXPECT_NE(start_heard->message.find("taken the journal over"), std::string::npos) << start_heard->message;
  EXPECT_TRUE(reads_answered);
  EXPECT_EQ(told[0], "another orchestrator has taken the journal over");
  EXPECT_FALSE(w.engine->store_healthy());
  EXPECT_TRUE(w.published.empty()) << "nothing is sent for a refused commit";
  w.clock->advance(60'000);  // many commit_retry_delays: no retry
  w.settle();
  EXPECT_EQ(w.engine->stats().commit_failures, 1u);
  EXPECT_EQ(w.store->commits, 1);
  EXPECT_TRUE(w.published.empty());
}

// PostgreSQL restarts (a crash of it, a failover) while sagas run: commits fail and wait,
// nothing is sent meanwhile, and once it is back the store dials again and every saga ends
// as its participants decided, each command applied once.
TEST(Engine, SagasWaitOutADatabaseOutageAndFinishWhenItIsBack) {
  auto server = testing_support::PostgresServer::start();
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto url = (*server)->create_database("outage");
  ASSERT_TRUE(url.ok()) << url.error().message;
  World w(examples(), Backend::postgres, *url);
  w.boot();
  std::vector<SagaId> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(w.start("order-fulfilment", kOrderInput, "outage-" + std::to_string(i)));
  ASSERT_TRUE((*server)->stop().ok());
  w.settle();
  EXPECT_GE(w.engine->stats().commit_failures, 1u);
  EXPECT_FALSE(w.engine->store_healthy());
  EXPECT_TRUE(w.published.empty()) << "nothing is sent before its commit";
  auto status = w.engine->list({});
  EXPECT_FALSE(status.ok()) << "a read while the database is down is an error, not an empty list";
  ASSERT_TRUE((*server)->start_again().ok());
  for (const auto& id : ids) {
    EXPECT_EQ(w.run(id), SagaState::completed) << id.value();
    expect_applied_once(w, id);
  }
  EXPECT_TRUE(w.engine->store_healthy());
}

TEST(Engine, AReplyIsAcknowledgedOnlyAfterTheCommitThatAppliedIt) {
  World w(examples());
  w.copies = [](const participant::Command&) { return 0; };
  w.boot();
  w.start("order-fulfilment", kOrderInput);
  w.settle();
  wire::Message command = w.published.front();
  w.store->fail_commits = 2;
  w.bus.publish(wire::reply_message(command, true, success_body(*participant::read_command(command, nullptr))));
  w.settle();
  EXPECT_EQ(w.bus.committed("sagactl", "order-fulfilment.replies"), 0u);
  w.clock->advance(w.options.commit_retry_delay);
  w.settle();
  EXPECT_EQ(w.bus.committed("sagactl", "order-fulfilment.replies"), 0u);
  w.clock->advance(w.options.commit_retry_delay);
  w.settle();
  EXPECT_EQ(w.bus.committed("sagactl", "order-fulfilment.replies"), 1u);
  EXPECT_EQ(w.engine->stats().commit_failures, 2u);
}

TEST_P(DurableEngine, GroupCommitSharesTransactionsAcrossSagas) {
  World w(examples(), GetParam());
  w.boot();
  std::vector<SagaId> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(w.start("order-fulfilment", kOrderInput));
  for (const auto& id : ids) EXPECT_EQ(w.run(id), SagaState::completed);
  const auto& st = w.engine->stats();
  EXPECT_EQ(st.transitions, 200u * 6u);  // the start and 5 replies each
  EXPECT_LT(st.commits * 20, st.transitions) << st.commits << " commits for " << st.transitions;
}

// --- crashes ---

TEST_P(DurableEngine, ACrashBetweenCommitAndSendResendsTheSameCommandOnRestart) {
  World w(examples(), GetParam());
  w.faults = [&](FaultyStore& s) {
    if (w.boots == 0) s.crash_after_commit = 1;  // the start's commit
  };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput, "o-1");
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(w.crashes, 1);
  auto cmds = w.commands("execute");
  EXPECT_EQ(std::count(cmds.begin(), cmds.end(), "reserve-stock#1"), 1);
  EXPECT_EQ(*w.published.front().header("message-id"), "o-1/reserve-stock/execute/1");
}

// A start request that names no id is named by its place in the start topic: read again
// after a crash between its commit and its acknowledgement, it is the same saga, started
// once (with a fresh id each time it would run twice).
TEST_P(DurableEngine, AStartWithoutAnIdReadAgainAfterACrashStartsOneSaga) {
  World w(examples(), GetParam());
  w.options.start_topic = "sagas.start";
  w.faults = [&](FaultyStore& s) {
    if (w.boots == 0) s.crash_after_commit = 1;  // the start's commit, before it is acknowledged
  };
  w.boot();
  w.bus.publish(wire::Message{"sagas.start", "", {{"saga-name", "order-fulfilment"}}, kOrderInput});
  w.settle();
  EXPECT_EQ(w.crashes, 1);
  auto listed = must(w.engine->list({}));
  ASSERT_EQ(listed.sagas.size(), 1u);
  EXPECT_EQ(w.run(listed.sagas.front().id), SagaState::completed);
  for (const auto& [key, n] : w.calls()) EXPECT_EQ(n, 1) << key;
  // The id is the same for the same place, and another for the next request.
  const wire::Origin first{0, 1'764'000'000'000};
  EXPECT_EQ(start_id_from("sagas.start", 0, first), start_id_from("sagas.start", 0, first));
  EXPECT_NE(start_id_from("sagas.start", 0, first), start_id_from("sagas.start", 0, {1, first.timestamp_ms}));
  EXPECT_NE(start_id_from("sagas.start", 0, first), start_id_from("sagas.start", 1, first));
  EXPECT_NE(start_id_from("sagas.start", 0, first), start_id_from("sagas.start", 0, {0, first.timestamp_ms + 1}))
      << "a topic made anew reuses offsets, not times";
  EXPECT_EQ(start_id_from("sagas.start", 0, first).substr(0, 14), "019ab697-e800-") << "a UUID v7 of the record's time";
}

TEST_P(DurableEngine, ACrashBeforeTheFirstCommitLeavesNoTrace) {
  World w(examples(), GetParam());
  w.faults = [&](FaultyStore& s) {
    if (w.boots == 0) s.crash_before_commit = 1;
  };
  w.boot();
  w.start("order-fulfilment", kOrderInput, "o-1");
  w.settle();
  EXPECT_EQ(w.crashes, 1);
  EXPECT_FALSE(w.engine->status(SagaId("o-1")));
  EXPECT_TRUE(w.published.empty());
  // The caller retries with the same id and the saga runs once.
  SagaId id = w.start("order-fulfilment", kOrderInput, "o-1");
  EXPECT_EQ(w.run(id), SagaState::completed);
}

TEST(Engine, ADeliveryConfirmationWaitsForTheNextCommitOrCommitsAloneAfterTheDelay) {
  World w(examples());
  w.copies = [](const participant::Command&) { return 0; };  // no replies: nothing else will commit
  w.boot();
  w.start("order-fulfilment", kOrderInput);
  w.settle();
  EXPECT_EQ(w.engine->unconfirmed_sends(), 0u);  // the command was delivered
  auto commits = w.engine->stats().commits;
  w.clock->advance(99);
  w.settle();
  EXPECT_EQ(w.engine->stats().commits, commits);  // its deletion waits for company
  w.clock->advance(1);
  w.settle();
  EXPECT_EQ(w.engine->stats().commits, commits + 1);  // outbox_clear_delay: alone
}

TEST_P(DurableEngine, TimersAreReArmedFromTheFileAfterACrash) {
  World w(examples(), GetParam());
  w.copies = [](const participant::Command& c) { return c.step == "reserve-stock" && c.attempt == 1 ? 0 : 1; };
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.settle();
  TimeMs started = w.engine->status(id)->created_at;
  w.clock->advance(100);  // outbox_clear_delay: the delivered command leaves the outbox
  w.settle();
  w.crash();
  w.boot();
  w.settle();
  ASSERT_TRUE(w.clock->next_wake());
  EXPECT_EQ(*w.clock->next_wake(), started + 5'000);  // reserve-stock's 5 s attempt timeout
  EXPECT_EQ(w.commands("execute").size(), 1u);       // delivered before the crash: not re-sent
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(w.commands("execute")[1], "reserve-stock#2");
}

struct CrashCase {
  SagaCase saga;
  std::string failing_step;  // empty: all succeed
  SagaState expected;
};

class CrashAtEveryCommit : public ::testing::TestWithParam<std::tuple<CrashCase, Backend>> {};

TEST_P(CrashAtEveryCommit, ResumesFromTheLastCommitAndAppliesNothingTwice) {
  const auto& [p, backend] = GetParam();
  for (bool after : {false, true}) {
    for (int k = 1; k <= 12; ++k) {
      SCOPED_TRACE((after ? "crash after commit " : "crash before commit ") + std::to_string(k));
      World w(examples(), backend);
      w.behaviour = [&](const participant::Command& c) {
        return c.step == p.failing_step && c.action == "execute" ? participant::Reply::failure("no") : participant::Reply::ok(success_body(c));
      };
      w.faults = [&](FaultyStore& s) {
        if (w.boots > 0) return;
        (after ? s.crash_after_commit : s.crash_before_commit) = k;
      };
      w.boot();
      SagaId id = w.start(p.saga.saga, p.saga.input, "saga-1");
      w.settle();
      if (!w.engine->status(id)) id = w.start(p.saga.saga, p.saga.input, "saga-1");  // lost before its commit
      EXPECT_EQ(w.run(id), p.expected);
      expect_steps_once(w, id);
      // A declined command did nothing, so running it again after a resend is allowed.
      for (const auto& [key, n] : w.calls()) {
        if (key != "saga-1/" + p.failing_step + "/execute") {
          EXPECT_EQ(n, 1) << key;
        }
      }
      auto hist = must(w.engine->history(id));
      EXPECT_EQ(std::count_if(hist.begin(), hist.end(), [](const auto& r) { return r.event == sagas::EventType::saga_started; }), 1);
      EXPECT_EQ(std::count_if(hist.begin(), hist.end(),
                              [](const auto& r) { return sagas::is_terminal_event(r.event); }),
                1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Sagas, CrashAtEveryCommit,
                         ::testing::Combine(::testing::Values(CrashCase{order(), "", SagaState::completed},
                                                              CrashCase{order(), "confirm-order", SagaState::compensated},
                                                              CrashCase{travel(), "", SagaState::completed},
                                                              CrashCase{travel(), "book-hotel", SagaState::compensated}),
                                            ::testing::Values(Backend::sqlite, Backend::postgres)),
                         [](const auto& param_info) {
                           const CrashCase& c = std::get<0>(param_info.param);
                           std::string n = c.saga.saga.substr(0, c.saga.saga.find('-')) + "_" +
                                           (c.failing_step.empty() ? "success" : c.failing_step) + "_" +
                                           name_of(std::get<1>(param_info.param));
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

// Many sagas at once, with lost and duplicated replies, and crashes at random commits of
// random incarnations (fixed seeds): every saga still ends as it would have without them.
TEST_P(DurableEngine, RandomCrashesAmongManySagasLoseNothing) {
  for (unsigned seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    World w(examples(), GetParam());
    w.behaviour = [](const participant::Command& c) {
      bool fail = c.action == "execute" && ((c.saga_id.back() == '2' && c.step == "charge-card") ||
                                            (c.saga_id.back() == '7' && c.step == "book-flight"));
      return fail ? participant::Reply::failure("declined") : participant::Reply::ok(success_body(c));
    };
    w.copies = [&](const participant::Command&) {
      unsigned r = rng() % 20;
      return r == 0 ? 0 : (r == 1 ? 2 : 1);  // 5% lost, 5% duplicated
    };
    w.faults = [&](FaultyStore& s) {
      if (w.boots >= 6) return;
      int k = 1 + static_cast<int>(rng() % 8);
      (rng() % 2 ? s.crash_after_commit : s.crash_before_commit) = k;
    };
    w.boot();
    std::vector<std::pair<SagaId, SagaState>> sagas;
    for (int i = 0; i < 10; ++i) {
      std::string id = "s" + std::to_string(seed) + "-" + std::to_string(i);
      bool trip = i % 2 == 1;
      sagas.push_back({SagaId(id), (i == 2 || i == 7) ? SagaState::compensated : SagaState::completed});
      w.start(trip ? "travel-booking" : "order-fulfilment", trip ? kTripInput : kOrderInput, id);
    }
    w.settle();
    // Starts lost to a crash before their commit are retried by their callers, same ids.
    for (int i = 0; i < 10; ++i) {
      if (!w.engine->status(sagas[i].first)) {
        bool trip = i % 2 == 1;
        w.start(trip ? "travel-booking" : "order-fulfilment", trip ? kTripInput : kOrderInput, sagas[i].first.value());
      }
    }
    for (const auto& [id, expected] : sagas) {
      EXPECT_EQ(w.run(id), expected) << id.value();
      expect_steps_once(w, id);
    }
    for (const auto& [key, n] : w.calls()) {
      std::string saga_id = key.substr(0, key.find('/'));
      bool declined = (saga_id.back() == '2' && key.find("/charge-card/execute") != std::string::npos) ||
                      (saga_id.back() == '7' && key.find("/book-flight/execute") != std::string::npos);
      if (!declined) {
        EXPECT_EQ(n, 1) << key;
      }
    }
    EXPECT_GE(w.crashes, 1);
  }
}

}  // namespace
}  // namespace engine_test
