#include "participant/reply_log.h"

#include "state/sqlite_handles.h"

namespace participant {

struct SqliteReplyLog::Impl {
  state::sqlite::DbPtr db;
  state::sqlite::StmtPtr find;
  state::sqlite::StmtPtr put;
};

sagas::Result<std::unique_ptr<SqliteReplyLog>> SqliteReplyLog::open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  impl->db.reset(raw);
  auto fail = [&](const std::string& what) {
    return sagas::Error{what + " " + path + ": " + (raw ? sqlite3_errmsg(raw) : "out of memory")};
  };
  if (rc != SQLITE_OK) return fail("cannot open the reply log");
  const char* setup =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;"
      "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, success INTEGER NOT NULL, body TEXT NOT NULL)"
      " WITHOUT ROWID;";
  if (sqlite3_exec(raw, setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return fail("cannot prepare the reply log (is it a sagactl reply log?)");
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(raw, "SELECT success, body FROM replies WHERE key = ?", -1, &s, nullptr) != SQLITE_OK) {
    return fail("cannot read the reply log");
  }
  impl->find.reset(s);
  if (sqlite3_prepare_v2(raw, "INSERT OR REPLACE INTO replies (key, success, body) VALUES (?, ?, ?)", -1, &s,
                         nullptr) != SQLITE_OK) {
    return fail("cannot write the reply log");
  }
  impl->put.reset(s);
  return std::unique_ptr<SqliteReplyLog>(new SqliteReplyLog(std::move(impl)));
}

SqliteReplyLog::SqliteReplyLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteReplyLog::~SqliteReplyLog() = default;

std::optional<LoggedReply> SqliteReplyLog::find(const std::string& key) {
  sqlite3_stmt* s = impl_->find.get();
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  if (sqlite3_step(s) != SQLITE_ROW) return std::nullopt;
  LoggedReply r;
  r.success = sqlite3_column_int(s, 0) != 0;
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  r.body = text ? text : "";
  return r;
}

bool SqliteReplyLog::put(const std::string& key, const LoggedReply& reply) {
  sqlite3_stmt* s = impl_->put.get();
  sqlite3_reset(s);
  sqlite3_bind_text(s, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_int(s, 2, reply.success ? 1 : 0);
  sqlite3_bind_text(s, 3, reply.body.data(), static_cast<int>(reply.body.size()), SQLITE_TRANSIENT);
  return sqlite3_step(s) == SQLITE_DONE;
}

}  // namespace participant
