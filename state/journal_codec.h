// The journal entry's encoding: what one transition of one saga stored (store.h), as the
// JSON text of one row. Pure: no SQLite, so a second store and the tests use it as it is.
//
// An entry is a snapshot (the whole instance, codec.h) or a delta: patches of the instance's
// header (state, stage, error, deadline) and of the steps the transition changed, each a
// shallow merge patch (RFC 7386 one level deep: a member replaces the field, null resets it
// to its default), against what the writer last wrote for that saga. Beside it, the history
// records, commands and messages of the transition:
//   {"snapshot": {...}} | {"patch": {"sg": 1}, "steps": [[1, {"s": "succeeded", ...}]]}
//   "history": [[event, step, detail(, at)]], "sends": [[step, kind, attempt(, payload)]],
//   "messages": [[topic, key, [[name, value], ...], value]]
// Empty parts are left out; field names are short ("s" for state, "rq" for request: the table
// in journal_fields.h), times are milliseconds relative to the entry's own (its `at`), and a
// record's time is written only when it differs from the entry's.
//
// Encoding (journal_encode.cpp) writes the text straight from the typed instance: a delta
// compares each field with what was written before, so a step that changed costs what
// changed in it, not a JSON tree of the step and a diff of two trees.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "state/store.h"

namespace state::journal {

// What the writer last wrote of a saga: deltas are computed against it, and it follows each
// entry written. The header's fields a delta patches, and the steps.
struct Written {
  sagas::SagaState state = sagas::SagaState::running;
  std::size_t stage = 0;
  std::string error;
  std::optional<sagas::TimeMs> deadline_at;
  std::vector<sagas::StepRecord> steps;
};

struct Entry {
  Position position = 0;
  TimeMs at = 0;  // the instance's updated_at after the transition
  std::optional<sagas::Json> snapshot;  // the instance as codec.h writes it (absolute times)
  std::optional<sagas::Json> header_patch;  // a delta: set (maybe empty), with `step_patches`
  std::vector<std::pair<std::size_t, sagas::Json>> step_patches;
  std::vector<HistoryRow> history;
  std::vector<sagas::SendCommand> sends;  // step, kind, attempt, payload only
  std::vector<OutboxMessage> messages;
};

// The data column of a commit's entry: a snapshot, after which `written` is what it holds.
std::string encode_snapshot(const Commit& c, Written& written);
// A delta against `written` (the steps marked changed, those that differ), which it updates.
std::string encode_delta(const Commit& c, Written& written);
// An entry with no saga state: a dead letter.
std::string encode_messages(const Commit& c);

// What of an entry to read: all of it, or only the saga state (a snapshot or a delta).
enum class Parts { all, state };

// The entry stored as `data` at time `at`; the error says what is damaged.
sagas::Result<Entry> decode(std::string_view data, Position position, TimeMs at, Parts parts = Parts::all);

// Only the history records of an entry, readable even when its saga state is damaged.
sagas::Result<std::vector<HistoryRow>> decode_history(std::string_view data, TimeMs at);

// Folds a saga's entries, oldest first, from its latest snapshot on. nullopt when `entries`
// is empty; an error when it does not start with a snapshot or an entry does not fit.
sagas::Result<std::optional<sagas::Instance>> fold(std::vector<Entry> entries);

}  // namespace state::journal
