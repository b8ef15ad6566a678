// What only a SQLite file does: the single-writer lock (through symlinks, for a standby),
// read-only opening, schema checks and migrations, and a file truncated, replaced, removed or
// made unwritable under a running orchestrator.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "state/sqlite_migrations.h"
#include "state/sqlite_store.h"
#include "tests/integration/store_cases.h"
#include "tests/support/must.h"
#include "tests/support/run_sql.h"

using testing_support::must;

namespace store_test {
namespace {

using namespace state;

// What only a SQLite file does: its lock file, its schema checks.
class SqliteFile : public TempDir {
 protected:
  std::unique_ptr<SqliteStore> open(bool read_only = false) {
    auto r = SqliteStore::open({path_, true, read_only});
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : nullptr;
  }
};

TEST_F(SqliteFile, ASecondOrchestratorIsRefusedWithTheHoldersPid) {
  auto first = open();
  auto second = SqliteStore::open({path_, true, false});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::locked);
  EXPECT_EQ(second.error().message, path_ + " is in use by another orchestrator (pid " + std::to_string(::getpid()) +
                                        "); stop it, or give this one another state file");
  // Readers need no lock.
  EXPECT_TRUE(SqliteStore::open({path_, true, true}).ok());
  first.reset();
  EXPECT_TRUE(SqliteStore::open({path_, true, false}).ok());
}

TEST_F(SqliteFile, AStandbyWaitsForTheLockAndTakesItWhenTheOwnerGoes) {
  auto owner = open();
  ASSERT_NE(owner, nullptr);
  auto standby = std::async(std::launch::async, [&] { return SqliteStore::open({path_, true, false, true}); });
  EXPECT_EQ(standby.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout) << "it waits";
  owner.reset();  // the owner goes: its lock with it
  auto taken = standby.get();
  ASSERT_TRUE(taken.ok()) << taken.error().message;
}

TEST_F(SqliteFile, ReadOnlyOpenOfAMissingFileSaysSo) {
  auto r = SqliteStore::open({path_, true, true});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot open state file " + path_), std::string::npos) << r.error().message;
}

TEST_F(SqliteFile, AFileFromANewerSagactlIsRefused) {
  open().reset();
  {
    // simulate a future schema
    auto s = open();
  }
  std::string cmd = "sqlite3 '" + path_ + "' 'UPDATE schema_version SET version = 99' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "sqlite3 shell not installed";
  auto r = SqliteStore::open({path_, true, false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("written by a newer sagactl (schema 99"), std::string::npos) << r.error().message;
}

// One number a query on the file answers (behind the store's back).
std::int64_t sql_number(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
      n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return n;
}

TEST_F(SqliteFile, AFileOfSchema3LosesItsIndexOnUpdatedAtAndPrunesAsBefore) {
  {
    auto s = open();
    std::vector<Commit> c(2);
    c[0].instance = sample("old-done", SagaState::completed, 100);
    c[1].instance = sample("new-done", SagaState::completed, 5000);
    for (auto& x : c) x.new_instance = true;
    ASSERT_TRUE(s->commit(c, 0).ok());
  }
  // What schema 3 had: the index every transition updated.
  testing_support::run_sql(path_, "CREATE INDEX sagas_by_state ON sagas (state, updated_at); "
                                  "UPDATE schema_version SET version = 3");
  auto s = open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(sql_number(path_, "SELECT version FROM schema_version"), state::sqlite::kSchemaVersion);
  EXPECT_EQ(sql_number(path_, "SELECT count(*) FROM sqlite_master WHERE name = 'sagas_by_state'"), 0);
  EXPECT_EQ(must(s->prune(1000, 10, 2000)), 1u);
  EXPECT_FALSE(must(s->load("old-done")).has_value());
  EXPECT_TRUE(must(s->load("new-done")).has_value());
}

// Commits one new saga `id`; the commit's status.
Status commit_one(SqliteStore& s, const std::string& id) {
  std::vector<Commit> batch(1);
  batch[0].instance = sample(id);
  batch[0].new_instance = true;
  return s.commit(batch, 0);
}

TEST_F(SqliteFile, ASecondOrchestratorThroughASymlinkIsRefused) {
  auto first = open();
  ASSERT_NE(first, nullptr);
  std::string alias = (dir_ / "alias.db").string();
  fs::create_symlink(path_, alias);
  auto second = SqliteStore::open({alias, true, false});
  ASSERT_FALSE(second.ok()) << "the lock is the file's, not the path's";
  EXPECT_EQ(second.error().code, Errc::locked);
  EXPECT_NE(second.error().message.find("(pid " + std::to_string(::getpid()) + ", as " + path_ + ")"), std::string::npos)
      << second.error().message;
  fs::create_hard_link(path_, dir_ / "hard.db");
  EXPECT_EQ(SqliteStore::open({(dir_ / "hard.db").string(), true, false}).error().code, Errc::locked);
}

TEST_F(SqliteFile, ATruncatedFileFailsEveryCommitAndNothingDeletesItsLog) {
  auto writer = open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(commit_one(*writer, "before").ok());
  ASSERT_TRUE(writer->check().ok());
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  auto checked = writer->check();
  EXPECT_FALSE(checked.ok());
  EXPECT_NE(checked.message.find("was truncated or overwritten"), std::string::npos) << checked.message;
  auto after = commit_one(*writer, "after");
  EXPECT_FALSE(after.ok()) << "a commit to a truncated file would be acknowledged and lost";
  EXPECT_NE(after.message.find("was truncated"), std::string::npos) << after.message;
  auto wal_size = fs::file_size(path_ + "-wal");
  EXPECT_GT(wal_size, 0u);
  // A reader (sagactl list) refuses it and leaves the log alone: SQLite would delete it.
  auto reader = SqliteStore::open({path_, true, true});
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.error().message.find("is empty but its write-ahead log"), std::string::npos)
      << reader.error().message;
  ASSERT_TRUE(fs::exists(path_ + "-wal"));
  EXPECT_EQ(fs::file_size(path_ + "-wal"), wal_size);
  writer.reset();
  // Nor does a restarted orchestrator (its own connections are gone; it would be the last).
  auto restarted = SqliteStore::open({path_, true, false});
  ASSERT_FALSE(restarted.ok());
  EXPECT_NE(restarted.error().message.find("the state file was truncated"), std::string::npos)
      << restarted.error().message;
  EXPECT_TRUE(fs::exists(path_ + "-wal"));
}

TEST_F(SqliteFile, AReplacedOrRemovedFileFailsCommits) {
  auto writer = open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(commit_one(*writer, "a").ok());
  fs::copy_file(path_, dir_ / "copy.db");
  fs::rename(dir_ / "copy.db", path_);
  auto replaced = commit_one(*writer, "b");
  EXPECT_FALSE(replaced.ok());
  EXPECT_NE(replaced.message.find("was replaced by another file"), std::string::npos) << replaced.message;
  fs::remove(path_);
  auto removed = writer->check();
  EXPECT_FALSE(removed.ok());
  EXPECT_NE(removed.message.find("is gone"), std::string::npos) << removed.message;
}

// The reader handle's reads are guarded as the owner's are: refused, not a SIGBUS on the
// shared-memory mapping, once the file is no longer the one opened.
TEST_F(SqliteFile, AReaderHandleRefusesReadsOfAReplacedFile) {
  auto writer = open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(commit_one(*writer, "a").ok());
  auto reader = must(writer->open_reader());
  ASSERT_TRUE(must(reader->load("a")).has_value());
  fs::copy_file(path_, dir_ / "copy.db");
  fs::rename(dir_ / "copy.db", path_);
  auto read = reader->load("a");
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.error().message.find("was replaced by another file"), std::string::npos) << read.error().message;
}

TEST_F(SqliteFile, AReaderBesideARunningWriterChangesNothingOfItsFiles) {
  auto writer = open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(commit_one(*writer, "a").ok());
  auto inode = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 ? st.st_ino : 0;
  };
  auto wal = inode(path_ + "-wal");
  ASSERT_NE(wal, 0u);
  for (int i = 0; i < 3; ++i) {
    auto reader = SqliteStore::open({path_, true, true});
    ASSERT_TRUE(reader.ok()) << reader.error().message;
    EXPECT_TRUE(must((*reader)->load("a")).has_value());
  }
  EXPECT_EQ(inode(path_ + "-wal"), wal) << "the writer's log is the same file";
  ASSERT_TRUE(commit_one(*writer, "b").ok());
  auto reader = must(SqliteStore::open({path_, true, true}));
  EXPECT_TRUE(must(reader->load("b")).has_value());
}

TEST_F(SqliteFile, AnUnwritableFileFailsItsCommitsWithoutACrash) {
  auto writer = open();
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(commit_one(*writer, "a").ok());
  std::string files = "'" + path_ + "' '" + path_ + "-wal' '" + path_ + "-shm'";
  if (std::system(("chattr +i " + files + " 2>/dev/null").c_str()) != 0) {
    GTEST_SKIP() << "chattr +i is not available here (needs root and ext4 or the like)";
  }
  std::vector<Status> results;
  for (int i = 0; i < 20; ++i) results.push_back(commit_one(*writer, "b" + std::to_string(i)));
  EXPECT_EQ(std::system(("chattr -i " + files).c_str()), 0);
  for (const auto& r : results) EXPECT_FALSE(r.ok()) << "committed to an immutable file";
  EXPECT_TRUE(commit_one(*writer, "c").ok()) << "writable again, it commits";
}

TEST_F(SqliteFile, NotADatabaseIsRefusedClearly) {
  { std::FILE* f = std::fopen(path_.c_str(), "w"); std::fputs("hello, this is not sqlite at all......................................................................................", f); std::fclose(f); }
  auto r = SqliteStore::open({path_, true, false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("is not a sagactl state file"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace store_test
