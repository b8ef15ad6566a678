#include "state/sqlite_conn.h"

namespace state::sqlite {

namespace {
// How long a statement waits for another connection's write lock before failing (busy).
constexpr int kBusyTimeoutMs = 5000;
}  // namespace

Status Conn::open(const std::string& path, int flags, const char* vfs) {
  path_ = path;
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, vfs);
  db_.reset(raw);
  if (rc != SQLITE_OK) {
    return {Errc::io, "cannot open state file " + path + ": " + (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory") +
                          "; check the path and its permissions"};
  }
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  // No memory-mapped reads of the database: a file truncated or made unreadable by someone
  // else would be a SIGBUS here instead of an error (https://sqlite.org/mmap.html).
  exec("PRAGMA mmap_size = 0");
  return Status::success();
}

Query Conn::stmt(const char* sql) {
  auto it = stmts_.find(sql);
  if (it == stmts_.end()) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return Query(nullptr);
    }
    it = stmts_.emplace(sql, StmtPtr(raw)).first;
  }
  sqlite3_reset(it->second.get());
  sqlite3_clear_bindings(it->second.get());
  return Query(it->second.get());
}

Query Conn::stmt_text(const std::string& sql) {
  auto it = assembled_.find(sql);
  if (it == assembled_.end()) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return Query(nullptr);
    }
    it = assembled_.emplace(sql, StmtPtr(raw)).first;
  }
  sqlite3_reset(it->second.get());
  sqlite3_clear_bindings(it->second.get());
  return Query(it->second.get());
}

std::optional<std::string> Conn::query_one(const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return std::nullopt;
  StmtPtr owned(raw);
  if (sqlite3_step(raw) != SQLITE_ROW) return std::nullopt;
  return col_text(raw, 0);
}

std::string col_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string()
                      : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

}  // namespace state::sqlite
