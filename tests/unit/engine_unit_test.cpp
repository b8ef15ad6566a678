// The engine's logic with the in-memory store (no files): a saga runs to completion through
// the in-process bus, with time moved by hand. The crash, durability and protocol-level
// behaviour is proven on real SQLite files in tests/integration/engine_test.cpp.
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <regex>

#include "dsl/compiler.h"
#include "engine/engine.h"
#include "tests/support/manual_clock.h"
#include "wire/in_process.h"
#include "participant/core.h"
#include "state/memory_store.h"
#include "tests/support/must.h"

using testing_support::must;

namespace {

using namespace engine;
using sagas::Json;

const char* const kSaga = R"(apiVersion: saga/v1
saga: pair
defaults: {timeout: 1s, retry: {max_attempts: 2, backoff: fixed, initial: 100ms, jitter: false}}
steps:
  - {name: a, topic: t, command: DoA, payload: {n: "${input.n}"}, compensation: {command: UndoA, payload: {}}}
  - {name: b, topic: t, command: DoB, payload: {a: "${steps.a.reply.id}"}}
)";

class EngineUnit : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::off);
    core_->use_clock([this] { return clock_.now(); });
    auto compiled = dsl::compile(kSaga, "pair.yaml");
    ASSERT_TRUE(compiled.definition);
    engine_.add(compiled.definition);
    core_->on("DoA", [](const participant::Command&) { return participant::Reply::ok(*Json::parse(R"({"id": "a-1"})")); });
    core_->on("UndoA", [](const participant::Command&) { return participant::Reply::ok(); });
    core_->on("DoB", [this](const participant::Command& c) {
      b_payload_ = c.payload.dump();
      return b_replies_ ? participant::Reply::ok() : participant::Reply::failure("b refused");
    });
    ASSERT_TRUE(engine_.open().ok());
  }

  void settle() {
    for (;;) {
      io_.restart();
      if (io_.poll() > 0) continue;
      if (!engine_.committing()) return;
      io_.run_one_for(std::chrono::seconds(5));  // the writer thread's outcome
    }
  }

  boost::asio::io_context io_;
  testing_support::ManualClock clock_{io_};
  state::MemoryStore store_;
  wire::Bus bus_;
  wire::InProcessTransport transport_{io_, bus_};
  std::shared_ptr<participant::ParticipantCore> core_ = std::make_shared<participant::ParticipantCore>();
  participant::InProcessParticipant participant_{io_, bus_, {"t"}, core_};
  Engine engine_{io_, store_, transport_, clock_};
  std::string b_payload_;
  bool b_replies_ = true;
};

TEST_F(EngineUnit, ASagaRunsToCompletionAndTheNextStepSeesThePreviousReply) {
  auto r = engine_.start("pair", *Json::parse(R"({"n": 3})"));
  ASSERT_TRUE(r.ok());
  settle();
  auto s = engine_.status(r->id);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->state, SagaState::completed);
  EXPECT_EQ(b_payload_, R"({"a":"a-1"})");
  EXPECT_EQ(engine_.active_sagas(), 0u);
  EXPECT_TRUE(must(store_.undelivered()).entries.empty());
}

TEST_F(EngineUnit, AFailureCompensatesAndTheHistoryTellsTheStory) {
  b_replies_ = false;
  auto r = engine_.start("pair", *Json::parse(R"({"n": 3})"));
  ASSERT_TRUE(r.ok());
  settle();
  EXPECT_EQ(engine_.status(r->id)->state, SagaState::compensated);
  std::vector<std::string> events;
  for (const auto& h : must(engine_.history(r->id))) events.push_back(std::string(sagas::to_string(h.event)) + (h.step.empty() ? "" : ":" + h.step));
  EXPECT_EQ(events, (std::vector<std::string>{"saga-started", "step-started:a", "step-succeeded:a", "step-started:b",
                                              "step-failed:b", "compensation-started", "compensation-step-started:a",
                                              "step-compensated:a", "saga-compensated"}));
}

TEST_F(EngineUnit, GeneratedIdsAreUuidV7SoLaterSagasSortAfterEarlierOnes) {
  std::regex v7("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto r = engine_.start("pair", *Json::parse(R"({"n": 1})"));
    ASSERT_TRUE(r.ok());
    ids.push_back(r->id.value());
    clock_.advance(1);
  }
  for (const auto& id : ids) EXPECT_TRUE(std::regex_match(id, v7)) << id;
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  // The first 48 bits are the clock's milliseconds.
  EXPECT_EQ(std::stoll(ids[0].substr(0, 8) + ids[0].substr(9, 4), nullptr, 16), clock_.now() - 5);
}

TEST_F(EngineUnit, NothingRunsBeforeOpenAndNothingAfterClose) {
  engine_.close();
  auto r = engine_.start("pair", *Json::parse(R"({"n": 3})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::closed);
}

}  // namespace
