// The stores on their real media, a SQLite file and a PostgreSQL database (each contract test
// runs on both): round trips through the journal, atomic group commit, the undelivered
// entries and the watermark, snapshots, retention, the reader handle. What only a SQLite file
// does (its lock, its schema checks, a damaged or replaced file): sqlite_file_test.cpp.
// Filters are written with designated initializers; GCC's -Wextra would ask for every field.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "state/codec.h"
#include "state/journal_codec.h"
#include "state/journal_writer.h"
#include "state/memory_store.h"
#include "cli/open_store.h"
#include "tests/support/must.h"
#include "tests/support/store_site.h"
#include "tests/integration/store_cases.h"

using testing_support::Backend;
using testing_support::must;

namespace store_test {
namespace {

using namespace state;

// The Store port's contract, on each store.
class Store : public TempDir, public ::testing::WithParamInterface<Backend> {
 protected:
  void SetUp() override {
    TempDir::SetUp();
    site_ = testing_support::new_store_site(GetParam(), dir_.string());
  }

  std::unique_ptr<state::Store> open(bool read_only = false) {
    if (site_.empty()) return nullptr;
    auto r = cli::open_store({.state = site_, .read_only = read_only, .owner = "store test"});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }

  std::string site_;
};

INSTANTIATE_TEST_SUITE_P(On, Store, ::testing::Values(Backend::sqlite, Backend::postgres), testing_support::BackendName());

TEST(Codec, InstanceRoundTripsExactly) {
  auto inst = sample("a");
  auto back = instance_from_json(*Json::parse(to_json(inst).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(*back, inst);
}

TEST(Codec, CorruptDataIsAnErrorNotACrash) {
  EXPECT_FALSE(instance_from_json(*Json::parse(R"({"id": 1})")).ok());
  EXPECT_FALSE(instance_from_json(Json(3)).ok());
  auto j = to_json(sample("a"));
  j.set("state", "dancing");
  EXPECT_FALSE(instance_from_json(j).ok());
}

sagas::SendCommand send(std::size_t step, sagas::CommandKind kind, std::uint32_t attempt, Json payload = {}) {
  sagas::SendCommand c;
  c.step = sagas::StepIndex(step);
  c.kind = kind;
  c.attempt = sagas::Attempt(attempt);
  c.payload = std::move(payload);
  return c;
}

// Encodes each transition as the writer would and folds the decoded entries back.
sagas::Instance round_trip(const std::vector<sagas::Instance>& states) {
  journal::Written written;
  std::vector<journal::Entry> entries;
  for (std::size_t i = 0; i < states.size(); ++i) {
    Commit c;
    c.instance = states[i];
    std::string data = i == 0 ? journal::encode_snapshot(c, written) : journal::encode_delta(c, written);
    auto e = journal::decode(data, static_cast<Position>(i + 1), states[i].updated_at);
    EXPECT_TRUE(e.ok()) << data;
    if (e.ok()) entries.push_back(std::move(e).value());
  }
  auto folded = journal::fold(entries);
  EXPECT_TRUE(folded.ok() && *folded);
  return folded.ok() && *folded ? **folded : sagas::Instance{};
}

TEST(Journal, DeltasSetAndResetFieldsExactly) {
  auto a = sample("a");
  auto b = a;  // step 1 succeeds: its timer and error go, a reply comes; the deadline goes
  b.steps[1].state = sagas::StepState::succeeded;
  b.steps[1].timer_at.reset();
  b.steps[1].timer_kind = sagas::TimerKind::attempt_timeout;
  b.steps[1].timer_for = sagas::CommandKind::execute;
  b.steps[1].error.clear();
  b.steps[1].reply = *Json::parse(R"({"ok": 1.0})");
  b.deadline_at.reset();
  b.stage = 0;
  b.updated_at = 2000;
  auto c = b;  // the saga fails with an error; a number changes kind only
  c.state = SagaState::compensating;
  c.error = "step s1 failed";
  c.steps[1].reply = *Json::parse(R"({"ok": 1})");
  c.updated_at = 3000;
  EXPECT_EQ(round_trip({a, b}), b);
  auto folded = round_trip({a, b, c});
  EXPECT_EQ(folded, c);
  EXPECT_TRUE(folded.steps[1].reply->find("ok")->is_integer()) << "1 and 1.0 are different values";
}

// Every field of the header and the steps, changed, reset and changed back at random over a
// long run of deltas (with the changed-steps hint as the engine gives it): folding the
// entries gives each state exactly.
TEST(Journal, RandomRunsOfDeltasFoldBackToEveryState) {
  std::mt19937 rng(20261205);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::vector<std::optional<Json>> values = {std::nullopt, *Json::parse(R"({"id":"r-1"})"),
                                                   *Json::parse(R"({"n":1.0})"), *Json::parse(R"({"n":1})"),
                                                   *Json::parse(R"({"s":"a\"b\u0001"})")};
  for (int run = 0; run < 20; ++run) {
    std::vector<sagas::Instance> states{sample("r" + std::to_string(run))};
    for (int t = 1; t < 40; ++t) {
      sagas::Instance next = states.back();
      next.updated_at += 1 + pick(5000);
      switch (pick(4)) {
        case 0: next.state = static_cast<SagaState>(pick(3)); break;
        case 1: next.stage = static_cast<std::size_t>(pick(3)); break;
        case 2: next.error = pick(2) != 0 ? "" : "failed: \"x\"\n"; break;
        default: next.deadline_at = pick(2) != 0 ? std::nullopt : std::optional<sagas::TimeMs>(next.updated_at + pick(9000) - 4000);
      }
      auto& step = next.steps[static_cast<std::size_t>(pick(static_cast<int>(next.steps.size())))];
      for (int changes = 1 + pick(4); changes-- > 0;) {
        switch (pick(12)) {
          case 0: step.state = static_cast<sagas::StepState>(pick(8)); break;
          case 1: step.attempts = static_cast<std::uint32_t>(pick(3)); break;
          case 2: step.compensation_attempts = static_cast<std::uint32_t>(pick(3)); break;
          case 3: step.compensation_budget_from = static_cast<std::uint32_t>(pick(2)); break;
          case 4: step.outcome_unknown = pick(2) != 0; break;
          case 5: step.compensation_gave_up = pick(2) != 0; break;
          case 6: step.request = values[static_cast<std::size_t>(pick(5))]; break;
          case 7: step.reply = values[static_cast<std::size_t>(pick(5))]; break;
          case 8: step.error = pick(2) != 0 ? "" : "timed out"; break;
          case 9: step.started_at = pick(2) != 0 ? 0 : next.updated_at - pick(100); break;
          case 10: step.finished_at = pick(2) != 0 ? 0 : next.updated_at; break;
          default:
            step.timer_at = pick(2) != 0 ? std::nullopt : std::optional<sagas::TimeMs>(next.updated_at + pick(30000));
            step.timer_kind = static_cast<sagas::TimerKind>(pick(2));
            step.timer_for = static_cast<sagas::CommandKind>(pick(2));
        }
      }
      states.push_back(std::move(next));
    }
    for (std::size_t upto = 1; upto <= states.size(); upto += 7) {
      std::vector<sagas::Instance> prefix(states.begin(), states.begin() + static_cast<std::ptrdiff_t>(upto));
      ASSERT_EQ(round_trip(prefix), prefix.back()) << "run " << run << ", " << upto << " states";
    }
    // A snapshot of any state, and deltas after it; the snapshot reads as codec.h's JSON of it.
    for (std::size_t from = 1; from + 4 <= states.size(); from += 5) {
      std::vector<sagas::Instance> run_from(states.begin() + static_cast<std::ptrdiff_t>(from),
                                            states.begin() + static_cast<std::ptrdiff_t>(from + 4));
      ASSERT_EQ(round_trip(run_from), run_from.back()) << "run " << run << ", from state " << from;
      Commit c;
      c.instance = states[from];
      journal::Written written;
      auto e = journal::decode(journal::encode_snapshot(c, written), 1, c.instance.updated_at);
      ASSERT_TRUE(e.ok() && e->snapshot);
      EXPECT_EQ(e->snapshot->dump(), to_json(c.instance).dump()) << "run " << run << ", state " << from;
    }
  }
}

TEST(Journal, ADamagedEntryIsAnErrorNotACrash) {
  EXPECT_FALSE(journal::decode("{torn", 1, 0).ok());
  EXPECT_FALSE(journal::decode(R"({"patch": 3})", 1, 0).ok());
  EXPECT_FALSE(journal::decode(R"({"patch": {}, "steps": [[-1, {}]]})", 1, 0).ok());
  EXPECT_FALSE(journal::decode(R"({"history": [["no-such-event", "", ""]]})", 1, 0).ok());
  auto delta = journal::decode(R"({"patch": {}, "steps": [[7, {"state": "running"}]]})", 2, 0);
  ASSERT_TRUE(delta.ok());
  auto snapshot = journal::decode(R"({"snapshot": )" + to_json(sample("a")).dump() + "}", 1, 0);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_FALSE(journal::fold({*snapshot, *delta}).ok()) << "a step the saga does not have";
  EXPECT_FALSE(journal::fold({*delta}).ok()) << "no snapshot to start from";
}

TEST_P(Store, CommitAndLoadRoundTripAcrossReopen) {
  {
    auto s = open();
    std::vector<Commit> batch(1);
    batch[0].instance = sample("a");
    batch[0].new_instance = true;
    batch[0].history = {{1000, sagas::EventType::saga_started, "", "shop v2"}, {1000, sagas::EventType::step_started, "s0", "attempt 1"}};
    batch[0].sends = {send(0, sagas::CommandKind::execute, 1, *Json::parse(R"({"x":1})")),
                      send(1, sagas::CommandKind::compensate, 2, *Json::parse(R"({"undo":true})"))};
    ASSERT_TRUE(s->commit(batch, 0).ok());
    EXPECT_EQ(batch[0].position, 1);
  }
  auto s = open();
  auto inst = must(s->load("a"));
  ASSERT_TRUE(inst.has_value());
  EXPECT_EQ(*inst, sample("a"));
  auto h = must(s->history("a"));
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1].event, sagas::EventType::step_started);
  EXPECT_EQ(h[1].step, "s0");
  auto backlog = must(s->undelivered());
  EXPECT_EQ(backlog.last, 1);
  EXPECT_EQ(backlog.delivered, 0);
  ASSERT_EQ(backlog.entries.size(), 1u);
  const auto& e = backlog.entries[0];
  EXPECT_EQ(e.saga_id, "a");
  EXPECT_EQ(e.saga, "shop");
  EXPECT_EQ(e.version, 2);
  EXPECT_EQ(e.history.size(), 2u);
  ASSERT_EQ(e.sends.size(), 2u);
  EXPECT_EQ(e.sends[0].step.value(), 0u);
  EXPECT_EQ(e.sends[0].attempt.value(), 1u);
  EXPECT_FALSE(e.sends[0].payload.has_value()) << "an execute command's payload is its step's request";
  EXPECT_EQ(e.sends[1].kind, sagas::CommandKind::compensate);
  EXPECT_EQ(e.sends[1].payload, *Json::parse(R"({"undo":true})"));
  // The watermark moves with a commit of its own, and delivered entries are not sent again.
  std::vector<Commit> none;
  ASSERT_TRUE(s->commit(none, 1).ok());
  EXPECT_TRUE(must(s->undelivered()).entries.empty());
  EXPECT_EQ(must(s->undelivered()).delivered, 1);
}

// The admin reads' handle (open_reader): a connection of its own that sees every commit once
// it returns, reads while the owner commits on another thread, and takes no writes.
TEST_P(Store, AReaderHandleSeesEachCommitAndTakesNoWrites) {
  auto s = open();
  auto reader = must(s->open_reader());
  ASSERT_NE(reader, nullptr);
  EXPECT_FALSE(must(reader->load("a")).has_value());
  std::thread committing([&] {
    for (int i = 0; i < 20; ++i) {
      std::vector<Commit> batch(1);
      batch[0].instance = sample("s" + std::to_string(i));
      batch[0].new_instance = true;
      batch[0].history = {{1000, sagas::EventType::saga_started, "", ""}};
      EXPECT_TRUE(s->commit(batch, 0).ok());
    }
  });
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(reader->list({}).ok()) << "a read beside a commit";
  committing.join();
  EXPECT_EQ(must(reader->list({.limit = 100})).sagas.size(), 20u);
  EXPECT_TRUE(must(reader->load("s7")).has_value());
  EXPECT_EQ(must(reader->history("s7")).size(), 1u);
  std::vector<Commit> batch(1);
  batch[0].instance = sample("x");
  batch[0].new_instance = true;
  EXPECT_FALSE(reader->commit(batch, 0).ok()) << "a reader handle took a commit";
  EXPECT_FALSE(must(s->load("x")).has_value());
}

TEST_P(Store, ADeadLetterIsAnEntryOfItsOwnUntilDelivered) {
  auto s = open();
  std::vector<Commit> batch(1);
  batch[0].messages_only = true;
  batch[0].messages = {{"t.dlq", "k", {{"error", "bad"}}, "{}"}};
  ASSERT_TRUE(s->commit(batch, 0).ok());
  auto backlog = must(s->undelivered());
  ASSERT_EQ(backlog.entries.size(), 1u);
  EXPECT_TRUE(backlog.entries[0].saga_id.empty());
  EXPECT_EQ(backlog.entries[0].messages, batch[0].messages);
  EXPECT_TRUE(must(s->list({})).sagas.empty()) << "a dead letter is no saga";
}

TEST_P(Store, TheWatermarkNeverGoesBack) {
  auto s = open();
  std::vector<Commit> batch(2);
  for (int i = 0; i < 2; ++i) {
    batch[i].instance = sample(i == 0 ? "a" : "b");
    batch[i].new_instance = true;
    batch[i].history = {{1000, sagas::EventType::saga_started, "", ""}};
  }
  ASSERT_TRUE(s->commit(batch, 0).ok());
  std::vector<Commit> none;
  ASSERT_TRUE(s->commit(none, 2).ok());
  ASSERT_TRUE(s->commit(none, 1).ok());
  EXPECT_EQ(must(s->undelivered()).delivered, 2);
}

TEST_P(Store, ASagaIsFoldedFromItsLatestSnapshotAcrossManyEntries) {
  auto s = open();
  std::vector<Commit> c(1);
  c[0].instance = sample("a");
  c[0].new_instance = true;
  ASSERT_TRUE(s->commit(c, 0).ok());
  c[0].new_instance = false;
  c[0].steps_changed = {false, true};
  for (int i = 1; i <= 3 * journal::kSnapshotEvery; ++i) {
    c[0].instance.steps[1].attempts = static_cast<std::uint32_t>(i);
    c[0].instance.updated_at = 1000 + i;
    c[0].history = {{1000 + i, sagas::EventType::step_retried, "s1", "attempt " + std::to_string(i)}};
    ASSERT_TRUE(s->commit(c, 0).ok());
  }
  EXPECT_EQ(*must(s->load("a")), c[0].instance);
  EXPECT_EQ(must(s->history("a")).size(), 3u * journal::kSnapshotEvery);
  s.reset();
  auto reopened = open();
  EXPECT_EQ(*must(reopened->load("a")), c[0].instance) << "the same after a restart";
}

TEST_P(Store, AGroupCommitIsAllOrNothing) {
  auto s = open();
  std::vector<Commit> first(1);
  first[0].instance = sample("dup");
  first[0].new_instance = true;
  ASSERT_TRUE(s->commit(first, 0).ok());
  std::vector<Commit> batch(2);
  batch[0].instance = sample("fresh");
  batch[0].new_instance = true;
  batch[0].sends = {send(0, sagas::CommandKind::execute, 1)};
  batch[1].instance = sample("dup");
  batch[1].new_instance = true;  // collides: the whole batch must roll back
  Status st = s->commit(batch, 0);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.message, "saga id \"dup\" already exists");
  EXPECT_FALSE(must(s->load("fresh")).has_value());
  EXPECT_EQ(must(s->undelivered()).last, 1) << "no position was taken";
  EXPECT_EQ(batch[0].position, 0);
  std::vector<Commit> next(1);
  next[0].instance = sample("fresh");
  next[0].new_instance = true;
  ASSERT_TRUE(s->commit(next, 0).ok());
  EXPECT_EQ(next[0].position, 2);
}

TEST_P(Store, UpdatesReplaceTheInstanceAndAppendHistory) {
  auto s = open();
  std::vector<Commit> c(1);
  c[0].instance = sample("a");
  c[0].new_instance = true;
  c[0].history = {{1, sagas::EventType::saga_started, "", ""}};
  ASSERT_TRUE(s->commit(c, 0).ok());
  c[0].instance.state = SagaState::completed;
  c[0].instance.steps[1].state = sagas::StepState::succeeded;
  c[0].new_instance = false;
  c[0].history = {{2, sagas::EventType::saga_completed, "", ""}};
  ASSERT_TRUE(s->commit(c, 0).ok());
  EXPECT_EQ(must(s->load("a"))->state, SagaState::completed);
  EXPECT_EQ(must(s->load("a"))->steps[1].state, sagas::StepState::succeeded);
  EXPECT_EQ(must(s->history("a")).size(), 2u);
  EXPECT_TRUE(must(s->load_active()).empty());
}

TEST_P(Store, AnUpdateRewritesOnlyTheStepsItMarksChanged) {
  auto s = open();
  std::vector<Commit> c(1);
  c[0].instance = sample("a");
  c[0].new_instance = true;
  c[0].steps_changed = {false, false};  // ignored for a new instance: every step is written
  ASSERT_TRUE(s->commit(c, 0).ok());
  EXPECT_EQ(*must(s->load("a")), c[0].instance);

  // Step 1 changed and is written; step 0 is marked unchanged, so the entry leaves it out
  // (the engine only marks unchanged what is equal, so the folded step is still right).
  c[0].new_instance = false;
  c[0].instance.steps[0].attempts = 7;
  c[0].instance.steps[1].state = sagas::StepState::succeeded;
  c[0].steps_changed = {false, true};
  ASSERT_TRUE(s->commit(c, 0).ok());
  auto loaded = must(s->load("a"));
  EXPECT_EQ(loaded->steps[0].attempts, 2u);
  EXPECT_EQ(loaded->steps[1].state, sagas::StepState::succeeded);
}

TEST_P(Store, ListFiltersNewestFirstWithPaging) {
  auto s = open();
  std::vector<Commit> c(4);
  const char* ids[] = {"a", "b", "c", "d"};
  for (int i = 0; i < 4; ++i) {
    c[i].instance = sample(ids[i], i % 2 ? SagaState::completed : SagaState::running, 1000 + i);
    c[i].new_instance = true;
  }
  c[3].instance.saga = "other";
  ASSERT_TRUE(s->commit(c, 0).ok());
  auto names = [](const auto& listed) {
    std::vector<std::string> out;
    if constexpr (std::is_same_v<std::decay_t<decltype(listed)>, state::Listed>) {
      for (const auto& i : listed.sagas) out.push_back(i.id);
    } else {
      for (const auto& i : listed) out.push_back(i.id);
    }
    return out;
  };
  EXPECT_EQ(names(must(s->list({}))), (std::vector<std::string>{"d", "c", "b", "a"}));
  EXPECT_EQ(names(must(s->list({.state = SagaState::completed}))), (std::vector<std::string>{"d", "b"}));
  EXPECT_EQ(names(must(s->list({.saga = "shop"}))), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(names(must(s->list({.limit = 2, .offset = 1}))), (std::vector<std::string>{"c", "b"}));
  EXPECT_EQ(names(must(s->load_active())), (std::vector<std::string>{"a", "c"}));
}

// The console's filters, keyset pages and counts, the same from SQLite and from memory.
TEST_P(Store, FiltersCursorsAndCountsAgreeWithTheMemoryStore) {
  auto store = open();
  MemoryStore memory;
  std::vector<Commit> c;
  // Ten sagas: ids "k0".."k9", created at 1000 + n/2 (pairs share a time), states cycling,
  // "k7" of another saga and "k8" of version 3.
  const SagaState states[] = {SagaState::running, SagaState::completed, SagaState::compensated};
  for (int n = 0; n < 10; ++n) {
    Commit one;
    one.instance = sample("k" + std::to_string(n), states[n % 3], 1000 + n / 2);
    if (n == 7) one.instance.saga = "other";
    if (n == 8) one.instance.version = 3;
    one.new_instance = true;
    c.push_back(std::move(one));
  }
  c.push_back({});
  c.back().instance = sample("x1", SagaState::failed, 2000);
  c.back().new_instance = true;
  auto copy = c;
  ASSERT_TRUE(store->commit(c, 0).ok());
  ASSERT_TRUE(memory.commit(copy, 0).ok());
  auto ids = [](const Listed& l) {
    std::vector<std::string> out;
    for (const auto& i : l.sagas) out.push_back(i.id);
    return out;
  };
  for (state::Store* s : std::initializer_list<state::Store*>{store.get(), &memory}) {
    SCOPED_TRACE(s == &memory ? "memory" : name_of(GetParam()));
    EXPECT_EQ(ids(must(s->list({}))), (std::vector<std::string>{"x1", "k8", "k9", "k6", "k7", "k4", "k5", "k2", "k3", "k0", "k1"}));
    EXPECT_EQ(ids(must(s->list({.id_prefix = "k"}))).size(), 10u);
    EXPECT_EQ(ids(must(s->list({.id_prefix = "x"}))), (std::vector<std::string>{"x1"}));
    EXPECT_EQ(ids(must(s->list({.version = 3}))), (std::vector<std::string>{"k8"}));
    EXPECT_EQ(ids(must(s->list({.created_from = 1002, .created_until = 1004}))),
              (std::vector<std::string>{"k6", "k7", "k4", "k5"}));
    // Keyset pages of three walk the whole list once, ties broken by id.
    std::vector<std::string> walked;
    ListFilter page{.limit = 3};
    for (;;) {
      auto listed = must(s->list(page));
      if (listed.sagas.empty()) break;
      for (const auto& i : listed.sagas) walked.push_back(i.id);
      page.after = ListCursor{listed.sagas.back().created_at, listed.sagas.back().id};
    }
    EXPECT_EQ(walked, ids(must(s->list({}))));
    // After "k6" (created at 1003, tie with "k7"): "k7" comes next.
    EXPECT_EQ(ids(must(s->list({.after = ListCursor{1003, "k6"}, .limit = 2}))), (std::vector<std::string>{"k7", "k4"}));

    auto counts = must(s->count({.state = SagaState::failed, .saga = "shop"}));  // the state is ignored
    std::map<std::tuple<std::string, int, SagaState>, std::size_t> by;
    for (const auto& x : counts) by[{x.saga, x.version, x.state}] = x.count;
    EXPECT_EQ(by.size(), 5u);
    EXPECT_EQ((by[{"shop", 2, SagaState::running}]), 4u);      // k0 k3 k6 k9
    EXPECT_EQ((by[{"shop", 2, SagaState::completed}]), 2u);    // k1 k4 (k7 is "other")
    EXPECT_EQ((by[{"shop", 2, SagaState::compensated}]), 2u);  // k2 k5
    EXPECT_EQ((by[{"shop", 3, SagaState::compensated}]), 1u);  // k8
    EXPECT_EQ((by[{"shop", 2, SagaState::failed}]), 1u);       // x1
  }

  // SQLite keeps the counts by name and version in a table its triggers maintain: they agree
  // with a scan of the rows (created_from forces one) as sagas change state and are pruned.
  auto sorted = [](std::vector<StateCount> v) {
    std::vector<std::tuple<std::string, int, SagaState, std::size_t>> out;
    for (const auto& x : v) out.emplace_back(x.saga, x.version, x.state, x.count);
    std::sort(out.begin(), out.end());
    return out;
  };
  std::vector<Commit> moved(2);
  moved[0].instance = sample("k0", SagaState::completed, 1000);
  moved[1].instance = sample("k3", SagaState::compensating, 1001);
  ASSERT_TRUE(store->commit(moved, 0).ok());
  ASSERT_TRUE(must(store->prune(1003, 100, 5000)) > 0);  // the terminal sagas updated before 1003
  EXPECT_EQ(sorted(must(store->count({}))), sorted(must(store->count({.created_from = 0}))));
  auto after_prune = sorted(must(store->count({.saga = "shop", .version = 2})));
  EXPECT_EQ(after_prune, sorted(must(store->count({.saga = "shop", .version = 2, .created_from = 0}))));
  EXPECT_FALSE(after_prune.empty());
}

TEST_P(Store, RetentionPrunesOnlyOldTerminalSagasInBatches) {
  auto s = open();
  std::vector<Commit> c(3);
  c[0].instance = sample("old-done", SagaState::completed, 100);
  c[1].instance = sample("old-running", SagaState::running, 100);
  c[2].instance = sample("new-done", SagaState::compensated, 5000);
  for (auto& x : c) {
    x.new_instance = true;
    x.history = {{1, sagas::EventType::saga_started, "", ""}};
  }
  ASSERT_TRUE(s->commit(c, 0).ok());
  EXPECT_EQ(must(s->prune(1000, 10, 2000)), 1u);
  EXPECT_FALSE(must(s->load("old-done")).has_value());
  EXPECT_TRUE(must(s->history("old-done")).empty());
  EXPECT_TRUE(must(s->load("old-running")).has_value());
  EXPECT_TRUE(must(s->load("new-done")).has_value());
  EXPECT_TRUE(must(s->was_pruned("old-done"))) << "a tombstone recognises late replies";
  EXPECT_FALSE(must(s->was_pruned("new-done")));
  EXPECT_EQ(must(s->prune(1000, 10, 2000)), 0u);
  EXPECT_EQ(must(s->prune(2001, 10, 9000)), 0u);
  EXPECT_FALSE(must(s->was_pruned("old-done"))) << "tombstones last one more retention period";
}

}  // namespace
}  // namespace store_test
