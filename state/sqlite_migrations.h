// The state file's schema and its migrations (internal to state/). A file written by any
// earlier release is brought to the current schema in place when an orchestrator opens it,
// each step in one transaction: nothing is lost, and a failed step leaves the file as it was.
#pragma once

#include <cstdint>

#include "state/sqlite_conn.h"

namespace state::sqlite {

// 1: instances, steps, history, outbox, processed_replies (one table per concern).
// 2: tombstones of pruned sagas.
// 3: the journal (sagas, journal, journal_state); the tables of 1 are converted and dropped.
// 4: no index on (state, updated_at).
inline constexpr std::int64_t kSchemaVersion = 4;

// The schema version the file holds; 0 for a new file.
sagas::Result<std::int64_t, Status> schema_version(Conn& c);

// Brings the file to kSchemaVersion; refuses a file of a newer sagactl.
Status migrate(Conn& c);

}  // namespace state::sqlite
