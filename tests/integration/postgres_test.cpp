// The throwaway PostgreSQL the cluster's tests run against (tests/support/postgres_server.h):
// it starts from Debian's binaries, speaks the real protocol to libpq, keeps what a
// committed transaction wrote, and is gone when the test ends.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/postgres_server.h"

namespace {

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnDeleter>;
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

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

}  // namespace
