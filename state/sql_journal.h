// The journal's queries that both SQL stores run alike: the backlog of undelivered messages
// (recovery), pruning finished sagas with their tombstones, and the tombstone lookup. The SQL
// is written once here, in the dialect SQLite and PostgreSQL share (numbered parameters $1,
// $2, ...; INSERT ... ON CONFLICT ... DO UPDATE); a store adds only its connection (a
// Session) and, for prune, what its ownership asks first (PostgreSQL's fencing check).
//
// Threading: the session's; one call at a time per session. Internal to state/ and postgres/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state/store.h"

namespace state::sql {

using Param = std::variant<std::int64_t, std::string>;
using Value = std::variant<std::monostate, std::int64_t, std::string>;  // NULL, an integer, text

// What a statement returned, read out whole.
struct Rows {
  std::vector<std::vector<Value>> rows;

  std::size_t size() const { return rows.size(); }
  bool null(std::size_t r, std::size_t c) const { return std::holds_alternative<std::monostate>(rows[r][c]); }
  std::int64_t int64(std::size_t r, std::size_t c) const;  // 0 for NULL; text is parsed
  std::string text(std::size_t r, std::size_t c) const;    // "" for NULL; an integer as digits
};

// A store's connection in the shared dialect.
class Session {
 public:
  virtual ~Session() = default;
  // Runs one statement; a failure's message starts with `what` ("cannot prune: ...") and
  // keeps the store's code (io, locked, corrupt).
  virtual Result<Rows> run(const char* sql, const std::vector<Param>& params, std::string_view what) = 0;
  // Runs `body` in one transaction: all of it is committed, or none of it.
  virtual Status transaction(const std::function<Status()>& body) = 0;
  // Where the journal is, for messages: the file's path, the database's address.
  virtual std::string where() const = 0;
  // What restores a damaged journal: "the file", "the database".
  virtual std::string_view kind() const = 0;
};

// Store::undelivered: the journal's position and each entry past the delivered watermark
// that holds history, sends or messages. A damaged entry is an error (corrupt) naming it.
Result<Backlog> undelivered(Session& s);

// Store::prune: finished sagas created and last updated before `before`, at most
// `max_sagas`, go with their journal entries, each leaving a tombstone at `now` (kept one
// more retention period); delivered messages of no saga go too. `first` runs first inside
// the transaction and may refuse it (a fenced owner deletes nothing).
Result<std::size_t> prune(Session& s, TimeMs before, std::size_t max_sagas, TimeMs now,
                          const std::function<Status()>& first = {});

// Store::was_pruned.
Result<bool> was_pruned(Session& s, const std::string& id);

}  // namespace state::sql
