// What every store reports the same way (internal to state/).
#pragma once

#include <string>
#include <vector>

#include "state/store.h"

namespace state {

// How many unreadable sagas an error names before "and N more".
inline constexpr std::size_t kNamedBrokenRows = 10;

// "N unfinished saga(s) in WHERE cannot be read: PROBLEMS. Recovery never skips a saga, so
// nothing was started: REMEDY".
inline Status unreadable_unfinished(const std::vector<BrokenRow>& rows, const std::string& where,
                                    const std::string& remedy) {
  std::string what;
  for (std::size_t i = 0; i < rows.size() && i < kNamedBrokenRows; ++i) what += (what.empty() ? "" : "; ") + rows[i].problem;
  if (rows.size() > kNamedBrokenRows) what += "; and " + std::to_string(rows.size() - kNamedBrokenRows) + " more";
  return Status{Errc::corrupt, std::to_string(rows.size()) + " unfinished saga(s) in " + where + " cannot be read: " +
                                   what + ". Recovery never skips a saga, so nothing was started: " + remedy};
}

// A saga with a summary row and no journal entries.
inline BrokenRow without_entries(const std::string& id) {
  return {id, "saga " + id + ": it is listed but has no journal entries"};
}

// A summary row whose state is no state sagactl knows.
inline BrokenRow unknown_state(const std::string& id, const std::string& state) {
  return {id, "saga " + id + ": its row has the unknown state \"" + state + "\""};
}

// A saga whose stored form cannot be read: corrupt, naming it.
inline Status corrupt_saga(const std::string& id, const std::string& problem) {
  return {Errc::corrupt, "saga " + id + ": " + problem};
}

}  // namespace state
