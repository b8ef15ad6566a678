// Runs SQL on a state file behind the store's back, as a bad disk, a hand edit or an older
// release would have written it (tests only).
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

namespace testing_support {

inline void run_sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

}  // namespace testing_support
