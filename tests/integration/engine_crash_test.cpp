// The engine through its store's failures and its own crashes: failed and refused commits, a
// database outage, acknowledgements that wait for their commit, group commit, and crashes
// at every commit point with restart; on a SQLite file and on PostgreSQL (DurableEngine).
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "tests/integration/engine_cases.h"

namespace engine_test {
namespace {

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
