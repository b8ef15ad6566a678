// The engine when participants fail: business failures compensated in strategy order, a
// failure after the pivot, timeouts retried with the same key, duplicate and late replies,
// and malformed or unmatched replies dead-lettered.
#include <gtest/gtest.h>

#include <set>

#include "tests/integration/engine_cases.h"

namespace engine_test {
namespace {

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

}  // namespace
}  // namespace engine_test
