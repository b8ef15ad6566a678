// Where a test's store lives, for the tests that run against both stores: a SQLite file in
// the test's directory, or a fresh database (named after the test) on a throwaway PostgreSQL
// server that the test process starts on first use and stops when it exits.
#pragma once

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace testing_support {

enum class Backend { sqlite, postgres };

inline const char* name_of(Backend b) { return b == Backend::sqlite ? "Sqlite" : "Postgres"; }
inline void PrintTo(Backend b, std::ostream* os) { *os << name_of(b); }

// For INSTANTIATE_TEST_SUITE_P's name generator.
struct BackendName {
  template <typename Info>
  std::string operator()(const Info& info) const {
    return name_of(info.param);
  }
};

// The `state:` setting of a new store for the running test: `dir`/state.db, or the URL of
// a database of its own. Fails the test (and returns "") when PostgreSQL cannot start.
std::string new_store_site(Backend backend, const std::string& dir);

}  // namespace testing_support
