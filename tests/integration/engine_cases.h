// What the engine's integration tests share: the example sagas and inputs, the checks that
// nothing was applied twice, and the DurableEngine suite (each test on SQLite and PostgreSQL;
// instantiated in engine_test.cpp).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/integration/engine_world.h"
#include "tests/support/must.h"
#include "tests/support/postgres_server.h"

namespace engine_test {
using testing_support::must;
using testing_support::name_of;

inline const char* const kOrderInput = R"({"orderId": "o-1", "amount": 42, "items": [{"sku": "a", "qty": 1}], "express": true})";
inline const char* const kTripInput =
    R"({"tripId": "trip-0123abcd", "traveller": {"name": "Ada", "email": "ada@example.com"},
        "from": "LHR", "to": "JFK", "nights": 3, "carClass": "economy"})";

struct SagaCase {
  std::string saga;
  std::string input;
};
inline SagaCase order() { return {"order-fulfilment", kOrderInput}; }
inline SagaCase travel() { return {"travel-booking", kTripInput}; }

inline std::vector<sagas::DefinitionPtr> examples() { return {example("order-fulfilment"), example("travel-booking")}; }

// The compensations sent (first attempts only), checked against waves: each wave is sent
// completely, in any order within it, before any step of the next.
inline void expect_waves(const World& w, const std::vector<std::set<std::string>>& waves) {
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

inline void expect_steps_once(const World& w, const SagaId& id);

// Every handler ran once per idempotency key (a command that failed did nothing, so it may
// run again), and every step succeeded at most once.
inline void expect_applied_once(const World& w, const SagaId& id) {
  for (const auto& [key, n] : w.calls()) EXPECT_EQ(n, 1) << key;
  expect_steps_once(w, id);
}

inline void expect_steps_once(const World& w, const SagaId& id) {
  std::map<std::string, int> succeeded;
  for (const auto& row : must(w.engine->history(id))) {
    if (row.event == sagas::EventType::step_succeeded || row.event == sagas::EventType::step_compensated) ++succeeded[std::string(sagas::to_string(row.event)) + ":" + row.step];
  }
  for (const auto& [what, n] : succeeded) EXPECT_EQ(n, 1) << what;
}

// The tests whose outcome rests on what the store keeps, on each store.
class DurableEngine : public ::testing::TestWithParam<Backend> {};

}  // namespace engine_test
