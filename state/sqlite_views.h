// The SQLite store's views that read summary rows and history, not whole sagas (internal to
// state/; SqliteStore's list, count and history). Each runs on the connection it is given.
#pragma once

#include <string>
#include <vector>

#include "state/sqlite_conn.h"
#include "state/store.h"

namespace state::sqlite {

Result<Listed> list_summaries(Conn& reader, const ListFilter& filter);
Result<std::vector<StateCount>> count_summaries(Conn& reader, const ListFilter& filter);
Result<std::vector<HistoryRow>> read_history(Conn& reader, const std::string& id);

}  // namespace state::sqlite
