// A damaged or failing state file: every read says which saga and what is wrong, nothing is
// turned into "not found" or skipped, and the engine refuses to recover over what it cannot
// read. Rows are damaged with SQLite itself, as a bad disk or a hand edit would.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>

#include "state/sqlite_store.h"
#include "tests/integration/engine_world.h"
#include "tests/support/must.h"
#include "tests/support/run_sql.h"

namespace engine_test {

using testing_support::must;

namespace {

const char* const kOrderInput = R"({"orderId": "o-1", "amount": 42, "items": [{"sku": "a", "qty": 1}], "express": true})";

// Damages the file with SQLite itself.
void damage(const std::string& path, const std::string& sql) { testing_support::run_sql(path, sql); }

TEST(DamagedState, ACorruptRowIsNamedByEveryReadAndListedNotHidden) {
  World w({example("order-fulfilment")});
  w.boot();
  w.transport->set_offline(true);  // both stay running
  SagaId good = w.start("order-fulfilment", kOrderInput, "good-1");
  SagaId bad = w.start("order-fulfilment", kOrderInput, "bad-1");
  w.settle();
  w.crash();
  damage(w.db(), "UPDATE journal SET data = '{not json' WHERE saga_num = (SELECT num FROM sagas WHERE id = 'bad-1')");

  auto store = state::SqliteStore::open({w.db(), true, true});
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->load("bad-1");
  ASSERT_FALSE(loaded.ok()) << "a damaged row is not \"not found\"";
  EXPECT_EQ(loaded.error().code, state::Errc::corrupt);
  EXPECT_NE(loaded.error().message.find("bad-1"), std::string::npos) << loaded.error().message;
  EXPECT_FALSE(must((*store)->load("nobody")).has_value()) << "not found stays a value";
  // A list shows the sagas' summaries: the damaged journal does not hide the saga.
  auto listed = must((*store)->list({}));
  ASSERT_EQ(listed.sagas.size(), 2u);
  EXPECT_TRUE(listed.unreadable.empty());
  // A damaged summary is listed as unreadable, beside the good ones.
  damage(w.db(), "UPDATE sagas SET state = 'dancing' WHERE id = 'bad-1'");
  listed = must((*store)->list({}));
  ASSERT_EQ(listed.sagas.size(), 1u);
  EXPECT_EQ(listed.sagas[0].id, "good-1");
  ASSERT_EQ(listed.unreadable.size(), 1u);
  EXPECT_EQ(listed.unreadable[0].saga_id, "bad-1");
  auto active = (*store)->load_active();
  ASSERT_FALSE(active.ok()) << "recovery never skips a saga";
  EXPECT_NE(active.error().message.find("bad-1"), std::string::npos) << active.error().message;
  (void)good;
  (void)bad;
}

TEST(DamagedState, TheEngineRefusesToRecoverOverAnUnreadableUnfinishedSaga) {
  World w({example("order-fulfilment")});
  w.boot();
  w.transport->set_offline(true);
  w.start("order-fulfilment", kOrderInput, "broken-step");
  w.settle();
  w.crash();
  damage(w.db(), "UPDATE journal SET data = json_replace(data, '$.snapshot.st[0]', 'garbage') "
                 "WHERE saga_num = (SELECT num FROM sagas WHERE id = 'broken-step')");
  Status st = w.try_boot();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code, Errc::store);
  EXPECT_EQ(st.store_code, state::Errc::corrupt) << "the store's own code is kept";
  EXPECT_NE(st.message.find("broken-step"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("journal entry"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("a step record must be an object"), std::string::npos) << st.message;
  EXPECT_NE(st.message.find("backup"), std::string::npos) << "it says how to proceed: " << st.message;
}

TEST(DamagedState, ReadFailuresAreStoreErrorsNeverNotFound) {
  World w({example("order-fulfilment")});
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  EXPECT_EQ(w.run(id), SagaState::completed);  // finished: status reads the file
  w.store->fail_reads = "injected: disk I/O error";
  auto status = w.engine->status(id);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, Errc::store);
  EXPECT_EQ(status.error().store_code, state::Errc::io) << "an I/O error is not a damaged row";
  EXPECT_NE(status.error().message.find("disk I/O error"), std::string::npos);
  EXPECT_EQ(w.engine->history(id).error().code, Errc::store);
  EXPECT_EQ(w.engine->list({}).error().code, Errc::store);
  EXPECT_EQ(w.engine->compensate(id, "x").code, Errc::store);
  auto start = w.engine->start("order-fulfilment", *Json::parse(kOrderInput), StartOptions{"some-id"});
  ASSERT_FALSE(start.ok());
  EXPECT_EQ(start.error().code, Errc::store);
  w.crash();
  w.faults = [](FaultyStore& s) { s.fail_reads = "injected: disk I/O error"; };
  EXPECT_EQ(w.try_boot().code, Errc::store) << "open does not start as if nothing were unfinished";
}

TEST(DamagedState, AReplyWhoseSagaCannotBeReadIsRetriedNotDeadLettered) {
  World w({example("order-fulfilment")});
  w.boot();
  SagaId id = w.start("order-fulfilment", kOrderInput);
  w.store->fail_reads = "injected: disk I/O error";
  w.settle();  // the first reply arrives; looking it up fails
  EXPECT_GT(w.engine->stats().read_failures, 0u);
  EXPECT_EQ(w.engine->stats().dead_letters, 0u);
  w.store->fail_reads.reset();
  EXPECT_EQ(w.run(id), SagaState::completed);
  EXPECT_EQ(w.engine->stats().dead_letters, 0u);
  for (const auto& m : w.published) EXPECT_EQ(m.topic.find(".dlq"), std::string::npos) << m.topic;
}

TEST(Outbox, LifecycleEventsSurviveACrashRightAfterTheirCommit) {
  World w({example("order-fulfilment")});
  w.options.events_topic = "sagas.events";
  w.faults = [&w](FaultyStore& s) {
    if (w.boots == 0) s.crash_after_commit = 1;  // the start's commit, then kill -9
  };
  w.boot();
  w.start("order-fulfilment", kOrderInput, "evt-1");
  w.settle();  // crashes and restarts (without the fault)
  ASSERT_EQ(w.crashes, 1);
  auto events = w.bus.log("sagas.events");
  ASSERT_FALSE(events.empty()) << "the saga-started event was in the outbox, sent after the restart";
  EXPECT_NE(events.front().value.find("saga-started"), std::string::npos) << events.front().value;
}

TEST(Outbox, ADeadLetterIsCommittedBeforeItsReplyIsAcknowledged) {
  World w({example("order-fulfilment")});
  w.boot();
  w.settle();
  w.bus.publish(wire::Message{"order-fulfilment.replies", "nobody", {{"saga-id", "nobody"}, {"saga-step", "x"},
                                                               {"saga-action", "execute"}, {"in-reply-to", "m"},
                                                               {"outcome", "success"}}, "{}"});
  w.settle();
  EXPECT_EQ(w.bus.log("order-fulfilment.replies.dlq").size(), 1u);
  EXPECT_EQ(w.bus.committed("sagactl", "order-fulfilment.replies"), 1u);
}

}  // namespace
}  // namespace engine_test
