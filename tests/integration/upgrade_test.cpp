// Upgrades keep data: a state file written by the previous release (schema 2, one table per
// concern) is migrated in place to the journal when an orchestrator opens it; its finished
// sagas keep their status and history, its unfinished ones resume and finish, and a message
// it had committed but not delivered is sent.
#include <gtest/gtest.h>
#include <fstream>
#include <sstream>

#include "state/sqlite_store.h"
#include "tests/integration/engine_world.h"
#include "tests/support/must.h"
#include "tests/support/run_sql.h"

namespace engine_test {

using testing_support::must;

namespace {

// A moment after the fixture's orchestrator stopped (2026-12-01T11:55:04Z).
constexpr sagas::TimeMs kFixtureTime = 1'796'126'104'000;

std::string fixture() {
  std::ifstream in(fs::path(SAGACTL_SOURCE_DIR) / "tests" / "fixtures" / "schema2-order.sql");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string sql_text(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// The schema-2 outbox row a crash between commit and delivery leaves: waiting-2's first
// command, as the engine wrote it.
std::string unsent_command_row(const sagas::Definition& def) {
  auto cmd = sagas::make_command(def, "waiting-2", sagas::StepIndex(0), sagas::CommandKind::execute, sagas::Attempt(1),
                                 *Json::parse(R"({"orderId":"o-1","items":[{"sku":"a","qty":1}]})"));
  wire::Message m = wire::command_message(def, "waiting-2", cmd);
  Json headers = Json::array();
  for (const auto& [k, v] : m.headers) headers.as_array().push_back(Json(Json::Array{Json(k), Json(v)}));
  return "INSERT INTO outbox (saga_id, topic, key, headers, value) VALUES ('waiting-2', " + sql_text(m.topic) + ", " +
         sql_text(m.key) + ", " + sql_text(headers.dump()) + ", " + sql_text(m.value) + ")";
}

TEST(Upgrade, AStateFileOfThePreviousReleaseIsMigratedAndItsSagasFinish) {
  World w({example("order-fulfilment")});
  testing_support::run_sql(w.db(), fixture());
  testing_support::run_sql(w.db(), unsent_command_row(*w.loaded.front()));

  w.boot();
  w.clock->set(kFixtureTime);  // the upgrade follows the old release's stop
  // The finished sagas are as they were, history included.
  auto done = must(w.engine->status(SagaId("done-1")));
  EXPECT_EQ(done.state, SagaState::completed);
  EXPECT_EQ(done.steps.size(), 5u);
  auto undone = must(w.engine->status(SagaId("undone-1")));
  EXPECT_EQ(undone.state, SagaState::compensated);
  EXPECT_EQ(undone.error, "step \"charge-card\" failed: card declined: amount over 1000");
  auto history = must(w.engine->history(SagaId("done-1")));
  ASSERT_FALSE(history.empty());
  EXPECT_EQ(history.front().event, sagas::EventType::saga_started);
  EXPECT_EQ(history.back().event, sagas::EventType::saga_completed);

  // The command committed but never delivered is sent again, so waiting-2 goes on at once.
  w.settle();
  EXPECT_GE(w.calls().at("waiting-2/reserve-stock/execute"), 1);
  // waiting-1's command went to a broker that is gone: its attempt times out and is retried.
  EXPECT_EQ(w.run(SagaId("waiting-1")), SagaState::completed);
  EXPECT_EQ(w.run(SagaId("waiting-2")), SagaState::completed);
  auto listed = must(w.engine->list({}));
  EXPECT_EQ(listed.sagas.size(), 4u);
  EXPECT_TRUE(listed.unreadable.empty());

  // The file is the journal now, and a second open finds nothing to migrate.
  w.crash();
  auto reopened = state::SqliteStore::open({w.db(), true, true});
  ASSERT_TRUE(reopened.ok()) << reopened.error().message;
  EXPECT_EQ(must((*reopened)->load("waiting-1"))->state, SagaState::completed);
  w.boot();
  EXPECT_EQ(must(w.engine->status(SagaId("done-1"))).state, SagaState::completed);
}

TEST(Upgrade, AReadOnlyOpenOfAnOldFileSaysHowToMigrateIt) {
  World w({example("order-fulfilment")});
  testing_support::run_sql(w.db(), fixture());
  auto r = state::SqliteStore::open({w.db(), true, true});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("has schema 2"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("sagactl run"), std::string::npos) << r.error().message;
}

TEST(Upgrade, ADamagedRowOfAnOldFileStaysVisibleAsDamaged) {
  World w({example("order-fulfilment")});
  testing_support::run_sql(w.db(), fixture());
  testing_support::run_sql(w.db(), "UPDATE instances SET data = '{torn' WHERE id = 'done-1'");
  w.boot();
  auto st = w.engine->status(SagaId("done-1"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::store);
  EXPECT_EQ(st.error().store_code, state::Errc::corrupt);
  EXPECT_NE(st.error().message.find("damaged before the upgrade"), std::string::npos) << st.error().message;
  auto listed = must(w.engine->list({}));
  EXPECT_EQ(listed.sagas.size(), 4u) << "its summary is intact: it is listed, not hidden";
}

}  // namespace

}  // namespace engine_test
