// The journal entry's encoding: what one transition of one saga stored (store.h), as the
// JSON text of one row. Pure: no SQLite, so a second store and the tests use it as it is.
//
// An entry is a snapshot (the whole instance) or a delta (the instance's header and the steps
// the transition changed), plus the history records, commands and messages of the transition:
//   {"snapshot": {...}} | {"state": "running", "stage": 1, "steps": [[1, {...}], ...]}
//   "history": [[event, step, detail(, at)]], "sends": [[step, kind, attempt(, payload)]],
//   "messages": [[topic, key, [[name, value], ...], value]]
// Empty parts are left out; a record's time is written only when it differs from the entry's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/store.h"

namespace state::journal {

// The fields of an instance a delta entry carries besides its steps.
struct Header {
  sagas::SagaState state = sagas::SagaState::running;
  std::size_t stage = 0;
  std::string error;
  std::optional<TimeMs> deadline_at;
};

struct Entry {
  Position position = 0;
  TimeMs at = 0;  // the instance's updated_at after the transition
  std::optional<sagas::Instance> snapshot;
  std::optional<Header> header;  // a delta: set, with `steps`
  std::vector<std::pair<std::size_t, sagas::StepRecord>> steps;
  std::vector<HistoryRow> history;
  std::vector<sagas::SendCommand> sends;  // step, kind, attempt, payload only
  std::vector<OutboxMessage> messages;
};

// The data column of a commit's entry; a snapshot when `snapshot`, else a delta holding the
// steps marked changed.
std::string encode(const Commit& c, bool snapshot);

// The entry stored as `data` at time `at`; the error says what is damaged.
sagas::Result<Entry> decode(std::string_view data, Position position, TimeMs at);

// Only the history records of an entry, readable even when its saga state is damaged.
sagas::Result<std::vector<HistoryRow>> decode_history(std::string_view data, TimeMs at);

// Applies a delta entry to the instance before it; nullopt, or what does not fit.
std::optional<std::string> apply(sagas::Instance& inst, const Entry& delta);

// Folds a saga's entries, oldest first, from its latest snapshot on. nullopt when `entries`
// is empty; an error when it does not start with a snapshot or an entry does not fit.
sagas::Result<std::optional<sagas::Instance>> fold(const std::vector<Entry>& entries);

}  // namespace state::journal
