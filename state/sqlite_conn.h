// One SQLite connection with its prepared statements (internal to state/). Not thread-safe:
// each thread that touches the state file has a connection of its own.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "state/sqlite_handles.h"
#include "state/store.h"

namespace state::sqlite {

// A cached statement in use: reset when it goes out of scope, so a statement left on a row
// never holds a read transaction open (in WAL mode that would pin the connection to an old
// snapshot of the file).
class Query {
 public:
  explicit Query(sqlite3_stmt* s) : s_(s) {}
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  ~Query() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);  // no binding outlives the text it points to (bind_arg)
    }
  }
  operator sqlite3_stmt*() const { return s_; }  // NOLINT: used where SQLite takes the handle

 private:
  sqlite3_stmt* s_;
};

class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {  // statements before the connection
    stmts_.clear();
    assembled_.clear();
  }

  // Opens `path`; the error names the file and what to check.
  // `vfs`: SQLite's default when null.
  Status open(const std::string& path, int flags, const char* vfs = nullptr);
  sqlite3* db() const { return db_.get(); }
  const std::string& path() const { return path_; }

  std::string last_error() const { return sqlite3_errmsg(db_.get()); }
  // An I/O error naming the file and SQLite's reason.
  Status fail(const std::string& what) const { return {Errc::io, what + " in " + path_ + ": " + last_error()}; }
  bool exec(const char* sql) { return sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  // A statement prepared once and reused (keyed by the literal's address: pass literals),
  // its bindings cleared; it holds nullptr when SQLite cannot prepare it.
  Query stmt(const char* sql);
  // The same for SQL assembled at run time (a few shapes, each prepared once).
  Query stmt_text(const std::string& sql);
  // The first column of a statement's first row (PRAGMA answers); nullopt on failure.
  std::optional<std::string> query_one(const char* sql);

  // Runs `body` in one write transaction: all of it is committed, or none of it.
  template <typename Body>
  Status transaction(Body body) {
    if (!exec("BEGIN IMMEDIATE")) return fail("cannot begin a transaction");
    Status st = body();
    if (st.ok() && !exec("COMMIT")) st = fail("cannot commit");
    if (!st.ok()) exec("ROLLBACK");
    return st;
  }

 private:
  DbPtr db_;
  std::string path_;
  std::map<const char*, StmtPtr> stmts_;  // keyed by the SQL literal's address
  std::map<std::string, StmtPtr> assembled_;  // keyed by the SQL text
};

std::string col_text(sqlite3_stmt* s, int i);

// UTF-8 text never holds this byte: every id that starts with a prefix sorts between the
// prefix and the prefix followed by it (a range on an index, not a scan).
inline constexpr char kAboveAnyText = '\xff';

// The column's text in place: valid until the statement steps again or is reset.
inline std::string_view text_of(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string_view()
                      : std::string_view(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}
// Named apart from std::bind, which argument-dependent lookup would pick for a temporary string.
// Text is bound without a copy (SQLITE_STATIC): it must outlive the Query it is bound to,
// which clears its bindings when it goes out of scope. A temporary string cannot be bound.
inline void bind_arg(sqlite3_stmt* s, int i, std::string_view v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
}
inline void bind_arg(sqlite3_stmt* s, int i, const std::string& v) { bind_arg(s, i, std::string_view(v)); }
void bind_arg(sqlite3_stmt* s, int i, std::string&& v) = delete;
inline void bind_arg(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }

}  // namespace state::sqlite
