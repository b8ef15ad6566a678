// The PostgreSQL store's schema (internal to postgres/): the tables of a fresh database, the
// migrations from each older version, and the names the SQL and the C++ share.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace postgres::schema {

// The session advisory lock that keeps a second orchestrator off the database (any number,
// the same in every sagactl: "sagactl" in ASCII).
constexpr std::int64_t kOwnerLock = 0x73616761'63746cLL;

// SQLSTATE of sagactl_advance() refusing an epoch that no longer owns the journal.
constexpr std::string_view kFenced = "SG001";

// The tables of a fresh database at version 1; migrations() then takes it to the newest.
extern const char* const kCreate;

// Step i takes the schema from version i + 1 to i + 2, in the migration's transaction.
std::span<const char* const> migrations();

}  // namespace postgres::schema
