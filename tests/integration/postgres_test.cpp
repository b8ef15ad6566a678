// The throwaway PostgreSQL the tests run against (tests/support/postgres_server.h): it starts
// from Debian's binaries, speaks the real protocol to libpq, keeps what a committed
// transaction wrote, and is gone when the test ends. And what only the PostgreSQL store
// does (the contract both stores keep is in store_test.cpp): one owner at a time, fencing by
// epoch, reconnection after the server dropped the session.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <filesystem>
#include <map>
#include <regex>
#include <memory>
#include <string>

#include "postgres/cluster.h"
#include "postgres/conn.h"
#include "postgres/store.h"
#include "tests/support/must.h"
#include "tests/support/pg_cutting_proxy.h"
#include "tests/support/postgres_server.h"
#include "tests/support/store_site.h"

namespace {

using postgres::ConnPtr;
using postgres::ResultPtr;
using testing_support::must;

ConnPtr connect(const std::string& url) {
  ConnPtr c(PQconnectdb(url.c_str()));
  EXPECT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
  return c;
}

ResultPtr exec(PGconn* c, const char* sql) { return ResultPtr(PQexec(c, sql)); }

TEST(Postgres, AThrowawayServerStartsKeepsCommittedRowsAndIsGoneAfterwards) {
  std::string dir;
  {
    auto server = testing_support::PostgresServer::start();
    ASSERT_TRUE(server.ok()) << server.error().message;
    auto url = (*server)->create_database("sagactl_test");
    ASSERT_TRUE(url.ok()) << url.error().message;
    {
      auto c = connect(*url);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "CREATE TABLE t (id TEXT PRIMARY KEY)").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "BEGIN").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "INSERT INTO t VALUES ('kept')").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "COMMIT").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "BEGIN").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "INSERT INTO t VALUES ('rolled back')").get()), PGRES_COMMAND_OK);
      ASSERT_EQ(PQresultStatus(exec(c.get(), "ROLLBACK").get()), PGRES_COMMAND_OK);
    }
    auto again = connect(*url);  // a new session sees what was committed, and only that
    auto rows = exec(again.get(), "SELECT id FROM t ORDER BY id");
    ASSERT_EQ(PQresultStatus(rows.get()), PGRES_TUPLES_OK) << PQerrorMessage(again.get());
    ASSERT_EQ(PQntuples(rows.get()), 1);
    EXPECT_EQ(std::string(PQgetvalue(rows.get(), 0, 0)), "kept");
    auto version = exec(again.get(), "SHOW server_version_num");
    EXPECT_GE(std::stoi(PQgetvalue(version.get(), 0, 0)), 150000) << "Debian 12's PostgreSQL 15";
    dir = (*server)->url();
    EXPECT_EQ(connect(dir) == nullptr, false);
  }
  ConnPtr gone(PQconnectdb(dir.c_str()));
  EXPECT_NE(PQstatus(gone.get()), CONNECTION_OK) << "the server stopped with its object";
}

// The sessions holding the owner's lock are ended, as a server restart or a network cut
// would end them. Only this test's database's: the server is shared by the tests running at
// the same time, whose owners hold advisory locks of their own.
void drop_owner_sessions(const std::string& url) {
  auto c = connect(url);
  auto r = exec(c.get(),
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                "database = (SELECT oid FROM pg_database WHERE datname = current_database())");
  ASSERT_EQ(PQresultStatus(r.get()), PGRES_TUPLES_OK) << PQerrorMessage(c.get());
  ASSERT_GE(PQntuples(r.get()), 1);
}

sagas::Instance saga(const std::string& id) {
  sagas::Instance inst;
  inst.id = id;
  inst.saga = "shop";
  inst.version = 1;
  inst.created_at = inst.updated_at = 1000;
  inst.steps.resize(1);
  return inst;
}

state::Status start(state::Store& s, const std::string& id) {
  std::vector<state::Commit> c(1);
  c[0].instance = saga(id);
  c[0].new_instance = true;
  return s.commit(c, 0);
}

class PostgresStore : public ::testing::Test {
 protected:
  void SetUp() override { url_ = testing_support::new_store_site(testing_support::Backend::postgres, ""); }
  std::unique_ptr<postgres::PostgresStore> open(const std::string& owner) {
    auto r = postgres::PostgresStore::open({url_, owner, false, 10000, {}, false});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::string url_;
};

TEST_F(PostgresStore, ASecondOrchestratorIsRefusedNamingTheHolder) {
  auto first = open("host-a pid 1");
  ASSERT_NE(first, nullptr);
  auto second = postgres::PostgresStore::open({url_, "host-b pid 2", false, 200, {}, false});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, state::Errc::locked);
  EXPECT_NE(second.error().message.find("is in use by another orchestrator (host-a pid 1, still there after 200 ms)"), std::string::npos)
      << second.error().message;
  EXPECT_TRUE(postgres::PostgresStore::open({url_, "reader", true, 0, {}, false}).ok()) << "readers need no lock";
  first.reset();
  auto third = open("host-b pid 2");
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->epoch(), 2) << "each owner gets a new epoch";
}

TEST_F(PostgresStore, AnOwnerWhoseSessionWasDroppedReconnectsAndGoesOn) {
  auto s = open("host-a");
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(start(*s, "before").ok());
  drop_owner_sessions(url_);
  // The first statement on each dropped connection fails; the next call dials again.
  state::Status st = start(*s, "after");
  if (!st.ok()) st = start(*s, "after");
  ASSERT_TRUE(st.ok()) << st.message;
  auto listed = testing_support::must(s->list({}));
  if (listed.sagas.size() != 2) listed = testing_support::must(s->list({}));
  EXPECT_EQ(listed.sagas.size(), 2u);
  EXPECT_EQ(s->epoch(), 1) << "nobody else took over: the same owner";
}

TEST_F(PostgresStore, AnOldOwnerThatWakesUpAfterATakeoverCanNeverWriteAgain) {
  auto old_owner = open("host-a");
  ASSERT_NE(old_owner, nullptr);
  ASSERT_TRUE(start(*old_owner, "a-1").ok());
  drop_owner_sessions(url_);  // host-a pauses; its session ends, and with it the lock
  auto new_owner = open("host-b");
  ASSERT_NE(new_owner, nullptr);
  ASSERT_TRUE(start(*new_owner, "b-1").ok());
  for (int attempt = 0; attempt < 3; ++attempt) {  // host-a wakes up and tries, again and again
    state::Status st = start(*old_owner, "a-2");
    ASSERT_FALSE(st.ok());
    if (attempt > 0) {
      EXPECT_EQ(st.code, state::Errc::locked) << st.message;
      EXPECT_NE(st.message.find("another orchestrator (host-b, epoch 2) has taken the journal"), std::string::npos)
          << st.message;
    }
  }
  auto pruned = old_owner->prune(1'000'000, 10, 1'000'000);  // nor delete anything
  ASSERT_FALSE(pruned.ok());
  EXPECT_EQ(pruned.error().code, state::Errc::locked) << pruned.error().message;
  new_owner.reset();  // even with the lock free again, the old epoch stays fenced
  EXPECT_EQ(start(*old_owner, "a-2").code, state::Errc::locked);
  auto reader = postgres::PostgresStore::open({url_, "reader", true, 0, {}, false});
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE(testing_support::must((*reader)->load("a-2")).has_value()) << "nothing of the old owner landed";
  EXPECT_TRUE(testing_support::must((*reader)->load("b-1")).has_value());
}

TEST_F(PostgresStore, AnEmptyDatabaseOpenedReadOnlySaysItHoldsNoState) {
  auto r = postgres::PostgresStore::open({url_, "reader", true, 0, {}, false});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, state::Errc::not_found);
  EXPECT_NE(r.error().message.find("holds no sagactl state"), std::string::npos) << r.error().message;
}

TEST_F(PostgresStore, AnUnreachableServerIsReportedWithWhatToCheckAndNoPassword) {
  auto r = postgres::PostgresStore::open({"postgresql://me:secret@127.0.0.1:1/nothing", "x", false, 0, {}, false});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, state::Errc::io);
  EXPECT_NE(r.error().message.find("cannot connect to PostgreSQL at postgresql://me:***@127.0.0.1:1/nothing"),
            std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos);
}

// The server committed, and its answer never came (the connection was lost on its way): the
// store dials again, finds its own position in the journal, and reports the commit done, so
// nothing is written twice by a retry.
TEST_F(PostgresStore, ACommitWhoseAnswerWasLostIsFoundCommittedAndNotWrittenTwice) {
  std::smatch port;
  ASSERT_TRUE(std::regex_search(url_, port, std::regex(R"(:(\d+)/)")));
  testing_support::PgCuttingProxy proxy(std::stoi(port[1]));
  std::string via_proxy = std::regex_replace(url_, std::regex(R"(:\d+/)"), ":" + std::to_string(proxy.port()) + "/") +
                          "?sslmode=disable&gssencmode=disable";
  auto opened = postgres::PostgresStore::open({via_proxy, "host-a", false, 10000, {}, false});
  ASSERT_TRUE(opened.ok()) << opened.error().message;
  auto& s = **opened;
  ASSERT_TRUE(start(s, "before").ok());
  proxy.cut_at_next_ready();
  std::vector<state::Commit> batch(1);
  batch[0].instance = saga("answer-lost");
  batch[0].new_instance = true;
  state::Status st = s.commit(batch, 0);
  EXPECT_EQ(proxy.cuts(), 1);
  ASSERT_TRUE(st.ok()) << st.message;
  EXPECT_EQ(batch[0].position, 2);
  EXPECT_TRUE(must(s.load("answer-lost")).has_value());
  ASSERT_TRUE(start(s, "after").ok()) << "the next commit goes on from there";
  EXPECT_EQ(must(s.undelivered()).last, 3);
  EXPECT_EQ(must(s.list({})).sagas.size(), 3u);
}

// What sagactl's first PostgreSQL schema made (version 1: counts kept by row triggers, an
// index on (state, updated_at)), with two sagas in it.
const char* const kSchemaOneWithTwoSagas = R"sql(
CREATE TABLE sagactl_schema (version integer NOT NULL);
CREATE TABLE sagas (num bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text COLLATE "C" NOT NULL UNIQUE,
  saga text NOT NULL, version integer NOT NULL, state text NOT NULL, created_at bigint NOT NULL,
  updated_at bigint NOT NULL, error text NOT NULL);
CREATE INDEX sagas_by_state ON sagas (state, updated_at);
CREATE INDEX sagas_by_created ON sagas (created_at DESC, id);
CREATE INDEX sagas_by_state_created ON sagas (state, created_at DESC, id);
CREATE TABLE saga_counts (saga text NOT NULL, version integer NOT NULL, state text NOT NULL, n bigint NOT NULL,
  PRIMARY KEY (saga, version, state));
CREATE FUNCTION sagactl_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE saga_counts SET n = n - 1 WHERE saga = OLD.saga AND version = OLD.version AND state = OLD.state;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO saga_counts VALUES (NEW.saga, NEW.version, NEW.state, 1)
      ON CONFLICT (saga, version, state) DO UPDATE SET n = saga_counts.n + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER saga_counted AFTER INSERT OR DELETE ON sagas FOR EACH ROW EXECUTE FUNCTION sagactl_count();
CREATE TRIGGER saga_count_moved AFTER UPDATE OF state ON sagas FOR EACH ROW
  WHEN (OLD.state IS DISTINCT FROM NEW.state) EXECUTE FUNCTION sagactl_count();
CREATE TABLE journal (saga_num bigint NOT NULL, position bigint NOT NULL, at bigint NOT NULL, snapshot boolean NOT NULL,
  data text NOT NULL, PRIMARY KEY (saga_num, position));
CREATE INDEX journal_by_position ON journal (position);
CREATE TABLE journal_state (last bigint NOT NULL, delivered bigint NOT NULL, epoch bigint NOT NULL, owner text NOT NULL);
INSERT INTO journal_state VALUES (0, 0, 0, '');
CREATE TABLE pruned (saga_id text COLLATE "C" PRIMARY KEY, at bigint NOT NULL);
INSERT INTO sagactl_schema VALUES (1);
INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error)
  VALUES ('old-1', 'shop', 1, 'running', 10, 10, ''), ('old-2', 'shop', 1, 'completed', 10, 20, '');
)sql";

std::map<std::string, std::size_t> counts_by_state(state::Store& s) {
  std::map<std::string, std::size_t> out;
  for (const auto& c : must(s.count({}))) out[std::string(sagas::to_string(c.state))] += c.count;
  return out;
}

// A database of schema 1 is brought to the current schema when an orchestrator opens it: the
// counts it kept stay right, and go on being kept by the new triggers.
TEST_F(PostgresStore, ADatabaseOfTheFirstSchemaIsMigratedAndItsCountsCarryOn) {
  {
    auto c = connect(url_);
    auto made = exec(c.get(), kSchemaOneWithTwoSagas);
    ASSERT_EQ(PQresultStatus(made.get()), PGRES_COMMAND_OK) << PQerrorMessage(c.get());
  }
  auto s = open("host-a");
  ASSERT_NE(s, nullptr);
  {
    auto c = connect(url_);
    auto version = exec(c.get(), "SELECT version FROM sagactl_schema");
    ASSERT_EQ(PQntuples(version.get()), 1);
    EXPECT_EQ(std::string(PQgetvalue(version.get(), 0, 0)), std::to_string(postgres::PostgresStore::kSchemaVersion));
    auto index = exec(c.get(), "SELECT to_regclass('sagas_by_state') IS NULL");
    EXPECT_EQ(std::string(PQgetvalue(index.get(), 0, 0)), "t") << "the index on updated_at is gone";
  }
  EXPECT_EQ(counts_by_state(*s), (std::map<std::string, std::size_t>{{"completed", 1}, {"running", 1}}));
  // One commit that starts two sagas, and moves the old running one to completed and back
  // through another state: only where each ends counts.
  std::vector<state::Commit> batch(4);
  batch[0].instance = saga("new-1");
  batch[0].new_instance = true;
  batch[1].instance = saga("new-2");
  batch[1].new_instance = true;
  batch[2].instance = saga("old-1");
  batch[2].instance.state = sagas::SagaState::compensating;
  batch[3].instance = saga("old-1");
  batch[3].instance.state = sagas::SagaState::compensated;
  ASSERT_TRUE(s->commit(batch, 0).ok());
  EXPECT_EQ(counts_by_state(*s),
            (std::map<std::string, std::size_t>{{"compensated", 1}, {"completed", 1}, {"running", 2}}));
  auto reader = postgres::PostgresStore::open({url_, "reader", true, 0, {}, false});
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  EXPECT_EQ(must((*reader)->list({})).sagas.size(), 4u);
}

}  // namespace

// A cluster's database (postgres/cluster.h): shards in schemas of their own, each fenced by
// its own epoch, read together through the view.
class PgCluster : public PostgresStore {
 protected:
  std::unique_ptr<postgres::PostgresStore> shard(int s, const std::string& owner) {
    auto r = postgres::open_shard(url_, s, owner);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // An id of shard `s` of `shards`, made from `base`.
  static std::string id_in(int s, int shards, const std::string& base) {
    for (int i = 0;; ++i) {
      std::string id = base + "-" + std::to_string(i);
      if (postgres::shard_of(id, shards) == s) return id;
    }
  }
};

TEST_F(PgCluster, ShardOfIsTheCrc32OfTheIdAsLibrdkafkasDefaultPartitionerComputesIt) {
  // CRC-32 (ISO-HDLC, librdkafka's rd_crc32) of "123456789" is 0xCBF43926 = 3421780262.
  EXPECT_EQ(postgres::shard_of("123456789", 1000), 262);
  EXPECT_EQ(postgres::shard_of("123456789", 1), 0);
  for (const char* id : {"a", "order-1", "0192f3a0-7c1e-7abc-8def-0123456789ab"}) {
    EXPECT_EQ(postgres::shard_of(id, 6), postgres::shard_of(id, 6)) << "stable";
    EXPECT_LT(postgres::shard_of(id, 6), 6);
  }
}

TEST_F(PgCluster, TheShapeIsRecordedOnceAndTheTwoKindsOfDatabaseRefuseEachOther) {
  auto first = postgres::join_cluster(url_, {"t.replies", 6});
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = postgres::join_cluster(url_, {"other.replies", 3});
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->topic, "t.replies") << "the first node's shape stays";
  EXPECT_EQ(second->shards, 6);
  auto shape = postgres::cluster_shape(url_);
  ASSERT_TRUE(shape.ok() && *shape);
  EXPECT_EQ((*shape)->shards, 6);
  auto single = postgres::PostgresStore::open({url_, "single", false, 100, {}, false});
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.error().message.find("holds a cluster's state"), std::string::npos) << single.error().message;

  auto other = testing_support::new_store_site(testing_support::Backend::postgres, "");
  ASSERT_TRUE(postgres::PostgresStore::open({other, "single", false, 100, {}, false}).ok());
  auto refused = postgres::join_cluster(other, {"t.replies", 6});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("holds the state of a single orchestrator"), std::string::npos)
      << refused.error().message;
  EXPECT_FALSE(postgres::join_cluster(url_, {"t.replies", 0}).ok()) << "no shards is no cluster";
}

TEST_F(PgCluster, AShardsNewOwnerFencesTheOldOneWithoutWaitingForIt) {
  auto a = shard(2, "node-a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(start(*a, id_in(2, 4, "x")).ok());
  auto b = shard(2, "node-b");  // the old owner is alive and holds no lock: b takes over at once
  ASSERT_TRUE(b);
  EXPECT_GT(b->epoch(), a->epoch());
  auto late = start(*a, id_in(2, 4, "y"));
  EXPECT_EQ(late.code, state::Errc::locked) << late.message;
  EXPECT_NE(late.message.find("the shard has moved"), std::string::npos) << late.message;
  EXPECT_NE(late.message.find("node-b"), std::string::npos) << late.message;
  EXPECT_TRUE(start(*b, id_in(2, 4, "z")).ok());
  auto other = shard(3, "node-a");  // another shard's epoch is its own
  ASSERT_TRUE(other);
  EXPECT_TRUE(start(*other, id_in(3, 4, "w")).ok());
}

TEST_F(PgCluster, TheViewListsCountsAndFindsTheSagasOfEveryShard) {
  constexpr int kShards = 4;
  std::vector<std::string> ids;
  for (int s = 0; s < kShards - 1; ++s) {  // the last shard never had an owner: no schema
    auto store = shard(s, "node");
    ASSERT_TRUE(store);
    for (int i = 0; i < 3; ++i) {
      std::vector<state::Commit> c(1);
      c[0].instance = saga(id_in(s, kShards, "s" + std::to_string(s) + "n" + std::to_string(i)));
      c[0].instance.created_at = 1000 + 10 * i + s;  // interleaved across shards
      c[0].new_instance = true;
      ASSERT_TRUE(store->commit(c, 0).ok());
      ids.push_back(c[0].instance.id);
    }
  }
  auto view = postgres::open_cluster_view(url_, kShards);
  ASSERT_TRUE(view.ok()) << view.error().message;
  state::ListFilter f;
  f.limit = 4;
  f.offset = 1;
  auto page = must((*view)->list(f));
  ASSERT_EQ(page.sagas.size(), 4u);
  std::vector<sagas::TimeMs> created;
  for (const auto& i : page.sagas) created.push_back(i.created_at);
  EXPECT_EQ(created, (std::vector<sagas::TimeMs>{1021, 1020, 1012, 1011})) << "newest first across shards, after one";
  auto counted = must((*view)->count({}));
  ASSERT_EQ(counted.size(), 1u);
  EXPECT_EQ(counted[0].count, 9u);
  for (const auto& id : ids) {
    auto loaded = must((*view)->load(id));
    ASSERT_TRUE(loaded) << id;
    EXPECT_EQ(loaded->id, id);
  }
  EXPECT_FALSE(must((*view)->load(id_in(kShards - 1, kShards, "nobody")))) << "a shard without schema holds nothing";
  EXPECT_EQ(must((*view)->ids_starting_with("s1n", 10)).size(), 3u);
  std::vector<state::Commit> c(1);
  EXPECT_FALSE((*view)->commit(c, 0).ok()) << "the view is read-only";
}
