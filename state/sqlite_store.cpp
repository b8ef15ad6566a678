#include "state/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <map>

#include "state/codec.h"
#include "state/sqlite_handles.h"

namespace state {

namespace {

using sagas::Json;

using sqlite::DbPtr;
using sqlite::StmtPtr;

// The lock file that keeps a second orchestrator off the database.
class LockFile {
 public:
  LockFile() = default;
  explicit LockFile(int fd) : fd_(fd) {}
  LockFile(LockFile&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  LockFile& operator=(LockFile&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~LockFile() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the flock
  }

 private:
  int fd_ = -1;
};

// Migrations, applied in order inside one transaction each; index i takes version i to i+1.
const char* const kMigrations[] = {
    R"sql(
CREATE TABLE instances (
  id TEXT PRIMARY KEY,
  saga TEXT NOT NULL,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  error TEXT NOT NULL,
  data TEXT NOT NULL
);
CREATE INDEX instances_by_state ON instances (state, updated_at);
CREATE INDEX instances_by_created ON instances (created_at);
CREATE TABLE steps (
  saga_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (saga_id, idx)
) WITHOUT ROWID;
CREATE TABLE history (
  id INTEGER PRIMARY KEY,
  saga_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  step TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX history_by_saga ON history (saga_id, id);
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  saga_id TEXT NOT NULL,
  topic TEXT NOT NULL,
  key TEXT NOT NULL,
  headers TEXT NOT NULL,
  value TEXT NOT NULL
);
CREATE INDEX outbox_by_saga ON outbox (saga_id);
CREATE TABLE processed_replies (
  message_id TEXT PRIMARY KEY,
  saga_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX processed_by_saga ON processed_replies (saga_id);
)sql",
    // 2: tombstones of pruned sagas, so a late reply to one is recognised as late.
    R"sql(
CREATE TABLE pruned (
  saga_id TEXT PRIMARY KEY,
  at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
};

std::string col_text(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p),
                                                    static_cast<std::size_t>(sqlite3_column_bytes(s, i)));
}

Json headers_json(const Headers& h) {
  Json arr = Json::array();
  for (const auto& [k, v] : h) arr.as_array().push_back(Json(Json::Array{Json(k), Json(v)}));
  return arr;
}

// nullopt when the column is not the JSON array of [name, value] pairs it was written as.
std::optional<Headers> headers_from(const std::string& text) {
  Headers out;
  auto j = Json::parse(text);
  if (!j || !j->is_array()) return std::nullopt;
  for (const auto& pair : j->as_array()) {
    if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
        !pair.as_array()[1].is_string()) {
      return std::nullopt;
    }
    out.emplace_back(pair.as_array()[0].as_string(), pair.as_array()[1].as_string());
  }
  return out;
}

// How many unreadable sagas an error names before "and N more".
constexpr std::size_t kNamedBrokenRows = 10;

}  // namespace

struct SqliteStore::Impl {
  DbPtr db;
  LockFile lock;
  std::string path;
  std::map<std::string, StmtPtr> stmts;  // prepared once, reused

  std::string last_error() const { return sqlite3_errmsg(db.get()); }

  Status fail(const std::string& what) const {
    return {Errc::io, what + " in " + path + ": " + last_error()};
  }

  bool exec(const char* sql) { return sqlite3_exec(db.get(), sql, nullptr, nullptr, nullptr) == SQLITE_OK; }

  sqlite3_stmt* stmt(const std::string& sql) {
    auto it = stmts.find(sql);
    if (it == stmts.end()) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v3(db.get(), sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
        return nullptr;
      }
      it = stmts.emplace(sql, StmtPtr(raw)).first;
    }
    sqlite3_reset(it->second.get());
    sqlite3_clear_bindings(it->second.get());
    return it->second.get();
  }

  static void bind(sqlite3_stmt* s, int i, const std::string& v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  static void bind(sqlite3_stmt* s, int i, std::int64_t v) { sqlite3_bind_int64(s, i, v); }

  Status corrupt(const std::string& id, const std::string& problem) const {
    return {Errc::corrupt, "saga " + id + ": " + problem};
  }

  // The first column of a statement's first row (PRAGMA answers); nullopt on failure.
  std::optional<std::string> query_one(const char* sql) {
    StmtPtr owned;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db.get(), sql, -1, &raw, nullptr) != SQLITE_OK) return std::nullopt;
    owned.reset(raw);
    if (sqlite3_step(raw) != SQLITE_ROW) return std::nullopt;
    return col_text(raw, 0);
  }

  Result<sagas::Instance> read_instance(const std::string& id, const std::string& text) {
    auto data = Json::parse(text);
    if (!data) return corrupt(id, "its instance row is not JSON (" + data.error().message + ")");
    if (!data->is_object()) return corrupt(id, "its instance row is not a JSON object");
    sqlite3_stmt* st = stmt("SELECT idx, data FROM steps WHERE saga_id = ? ORDER BY idx");
    if (st == nullptr) return fail("cannot read the steps of saga " + id);
    bind(st, 1, id);
    Json steps = Json::array();
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      auto sj = Json::parse(col_text(st, 1));
      if (!sj) {
        return corrupt(id, "its step row " + std::to_string(sqlite3_column_int64(st, 0)) + " is not JSON (" +
                               sj.error().message + ")");
      }
      steps.as_array().push_back(std::move(sj).value());
    }
    if (rc != SQLITE_DONE) return fail("cannot read the steps of saga " + id);
    data->set("steps", std::move(steps));
    auto inst = instance_from_json(*data);
    if (!inst) return corrupt(id, inst.error().message);
    return std::move(inst).value();
  }

  // Runs a query whose columns are (id, data): every row, or the I/O error.
  Result<std::vector<std::pair<std::string, std::string>>> rows_of(sqlite3_stmt* s, const std::string& what) {
    std::vector<std::pair<std::string, std::string>> rows;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) rows.emplace_back(col_text(s, 0), col_text(s, 1));
    if (rc != SQLITE_DONE) return fail("cannot read " + what);
    return rows;
  }

  // Loads each (id, data) row: the readable ones, and the damaged ones apart. I/O errors
  // fail the whole read.
  Result<Listed> read_instances(sqlite3_stmt* s, const std::string& what) {
    // Collect the rows first: loading the steps reuses another statement.
    auto rows = rows_of(s, what);
    if (!rows) return rows.error();
    Listed out;
    for (const auto& [id, data] : *rows) {
      auto inst = read_instance(id, data);
      if (inst) {
        out.sagas.push_back(std::move(inst).value());
      } else if (inst.error().code == Errc::corrupt) {
        out.unreadable.push_back({id, inst.error().message});
      } else {
        return inst.error();
      }
    }
    return out;
  }

  // Runs `body` in one write transaction: all of it is committed, or none of it.
  template <typename Body>
  Status transaction(Body body) {
    if (!exec("BEGIN IMMEDIATE")) return fail("cannot begin a transaction");
    Status st = body();
    if (st.ok() && !exec("COMMIT")) st = fail("cannot commit");
    if (!st.ok()) exec("ROLLBACK");
    return st;
  }

  // Inside an open transaction.
  Status delete_outbox(std::span<const std::int64_t> ids) {
    for (auto id : ids) {
      sqlite3_stmt* s = stmt("DELETE FROM outbox WHERE id = ?");
      if (s == nullptr) return fail("cannot clear the outbox");
      bind(s, 1, id);
      if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot clear the outbox");
    }
    return Status::success();
  }

  Status write_outbox(Commit& c) {
    const auto& inst = c.instance;
    for (auto& m : c.outbox) {
      sqlite3_stmt* st = stmt("INSERT INTO outbox (saga_id, topic, key, headers, value) VALUES (?, ?, ?, ?, ?)");
      if (st == nullptr) return fail("cannot prepare");
      bind(st, 1, inst.id);
      bind(st, 2, m.topic);
      bind(st, 3, m.key);
      bind(st, 4, headers_json(m.headers).dump());
      bind(st, 5, m.value);
      if (sqlite3_step(st) != SQLITE_DONE) return fail("cannot write outbox of saga " + inst.id);
      m.id = sqlite3_last_insert_rowid(db.get());
      m.saga_id = inst.id;
    }
    return Status::success();
  }

  Status write(Commit& c) {
    if (c.messages_only) return write_outbox(c);
    Json data = to_json(c.instance);
    Json steps = *data.find("steps");
    data.set("steps", Json::array());
    sqlite3_stmt* s = stmt(c.new_instance
                               ? "INSERT INTO instances (id, saga, version, state, created_at, updated_at, error, data) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                               : "INSERT INTO instances (id, saga, version, state, created_at, updated_at, error, data) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, "
                                 "updated_at = excluded.updated_at, error = excluded.error, data = excluded.data");
    if (s == nullptr) return fail("cannot prepare");
    const auto& inst = c.instance;
    bind(s, 1, inst.id);
    bind(s, 2, inst.saga);
    bind(s, 3, std::int64_t{inst.version});
    bind(s, 4, std::string(sagas::to_string(inst.state)));
    bind(s, 5, inst.created_at);
    bind(s, 6, inst.updated_at);
    bind(s, 7, inst.error);
    bind(s, 8, data.dump());
    if (sqlite3_step(s) != SQLITE_DONE) {
      if (sqlite3_extended_errcode(db.get()) == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return {Errc::corrupt, "saga id \"" + inst.id + "\" already exists"};
      }
      return fail("cannot write saga " + inst.id);
    }
    const auto& arr = steps.as_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!c.new_instance && i < c.steps_changed.size() && !c.steps_changed[i]) continue;
      sqlite3_stmt* st = stmt(
          "INSERT INTO steps (saga_id, idx, state, attempts, data) VALUES (?, ?, ?, ?, ?) "
          "ON CONFLICT (saga_id, idx) DO UPDATE SET state = excluded.state, attempts = excluded.attempts, "
          "data = excluded.data");
      bind(st, 1, inst.id);
      bind(st, 2, static_cast<std::int64_t>(i));
      bind(st, 3, std::string(sagas::to_string(inst.steps[i].state)));
      bind(st, 4, static_cast<std::int64_t>(inst.steps[i].attempts));
      bind(st, 5, arr[i].dump());
      if (sqlite3_step(st) != SQLITE_DONE) return fail("cannot write steps of saga " + inst.id);
    }
    for (const auto& h : c.history) {
      sqlite3_stmt* st = stmt("INSERT INTO history (saga_id, at, event, step, detail) VALUES (?, ?, ?, ?, ?)");
      bind(st, 1, inst.id);
      bind(st, 2, h.at);
      bind(st, 3, std::string(sagas::to_string(h.event)));
      bind(st, 4, h.step);
      bind(st, 5, h.detail);
      if (sqlite3_step(st) != SQLITE_DONE) return fail("cannot write history of saga " + inst.id);
    }
    if (Status st = write_outbox(c); !st.ok()) return st;
    if (c.processed_reply) {
      sqlite3_stmt* st = stmt("INSERT OR IGNORE INTO processed_replies (message_id, saga_id) VALUES (?, ?)");
      bind(st, 1, *c.processed_reply);
      bind(st, 2, inst.id);
      if (sqlite3_step(st) != SQLITE_DONE) return fail("cannot record reply of saga " + inst.id);
    }
    return Status::success();
  }

  Status migrate() {
    if (!exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")) {
      return fail("cannot read the schema version (is this a sagactl state file?)");
    }
    std::int64_t version = 0;
    {
      sqlite3_stmt* s = stmt("SELECT version FROM schema_version");
      if (s != nullptr && sqlite3_step(s) == SQLITE_ROW) version = sqlite3_column_int64(s, 0);
    }
    constexpr std::int64_t kTarget = sizeof kMigrations / sizeof kMigrations[0];
    if (version > kTarget) {
      return {Errc::corrupt, path + " was written by a newer sagactl (schema " + std::to_string(version) +
                                 ", this one knows " + std::to_string(kTarget) + "); upgrade sagactl"};
    }
    for (std::int64_t v = version; v < kTarget; ++v) {
      if (!exec("BEGIN IMMEDIATE")) return fail("cannot migrate");
      bool ok = exec(kMigrations[v]) &&
                exec(v == 0 ? "INSERT INTO schema_version VALUES (1)"
                            : ("UPDATE schema_version SET version = " + std::to_string(v + 1)).c_str());
      if (!ok) {
        Status st = fail("cannot migrate to schema " + std::to_string(v + 1));
        exec("ROLLBACK");
        return st;
      }
      if (!exec("COMMIT")) return fail("cannot migrate");
    }
    return Status::success();
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() {
  if (impl_) impl_->stmts.clear();  // statements before the connection
}

sagas::Result<std::unique_ptr<SqliteStore>, Status> SqliteStore::open(const SqliteOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = options.path;
  if (!options.read_only) {
    std::string lock_path = options.path + ".lock";
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      return Status{Errc::io, "cannot create " + lock_path + ": " + std::strerror(errno) +
                                  "; check that its directory exists and is writable"};
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return Status{Errc::locked, options.path + " is in use by another orchestrator (pid " + pid +
                                      "); stop it, or give this one another state file"};
    }
    std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, me.data(), me.size(), 0) < 0) {
      ::close(fd);
      return Status{Errc::io, "cannot write " + lock_path + ": " + std::strerror(errno)};
    }
    impl->lock = LockFile(fd);
  }
  sqlite3* raw = nullptr;
  int flags = options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(options.path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  impl->db.reset(raw);
  if (rc != SQLITE_OK) {
    return Status{Errc::io, "cannot open state file " + options.path + ": " +
                                (raw != nullptr ? sqlite3_errmsg(raw) : "out of memory") +
                                "; check the path and its permissions"};
  }
  sqlite3_busy_timeout(raw, 5000);
  if (!options.read_only) {
    // Durability rests on these two settings: each is read back, not assumed.
    auto mode = impl->query_one("PRAGMA journal_mode = WAL");
    if (!mode) return Status{Errc::corrupt, options.path + " is not a sagactl state file (" + impl->last_error() + ")"};
    if (*mode != "wal") {
      return Status{Errc::io, options.path + " cannot use write-ahead logging (journal_mode is " + *mode +
                                  "); put the state file on a local file system that supports shared memory"};
    }
    const char* want = options.synchronous_full ? "2" : "1";  // FULL : NORMAL
    impl->exec(options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (auto sync = impl->query_one("PRAGMA synchronous"); !sync || *sync != want) {
      return Status{Errc::io, "cannot set synchronous = " + std::string(options.synchronous_full ? "FULL" : "NORMAL") +
                                  " on " + options.path + " (" + impl->last_error() + ")"};
    }
    if (Status st = impl->migrate(); !st.ok()) return st;
  } else {
    sqlite3_stmt* s = impl->stmt("SELECT version FROM schema_version");
    if (s == nullptr || sqlite3_step(s) != SQLITE_ROW) {
      return Status{Errc::not_found, options.path + " holds no sagactl state (has an orchestrator run with it?)"};
    }
  }
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Status SqliteStore::commit(std::span<Commit> batch, std::span<const std::int64_t> sent) {
  auto& d = *impl_;
  Status st = d.transaction([&]() -> Status {
    if (Status cleared = d.delete_outbox(sent); !cleared.ok()) return cleared;
    for (auto& c : batch) {
      if (Status written = d.write(c); !written.ok()) return written;
    }
    return Status::success();
  });
  if (!st.ok()) {
    for (auto& c : batch) {
      for (auto& m : c.outbox) m.id = 0;  // nothing was written: no ids
    }
  }
  return st;
}

Result<std::optional<sagas::Instance>> SqliteStore::load(const std::string& id) {
  sqlite3_stmt* s = impl_->stmt("SELECT id, data FROM instances WHERE id = ?");
  if (s == nullptr) return impl_->fail("cannot read saga " + id);
  Impl::bind(s, 1, id);
  auto rows = impl_->rows_of(s, "saga " + id);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<sagas::Instance>();
  auto inst = impl_->read_instance(rows->front().first, rows->front().second);
  if (!inst) return inst.error();
  return std::optional<sagas::Instance>(std::move(inst).value());
}

Result<std::vector<sagas::Instance>> SqliteStore::load_active() {
  sqlite3_stmt* s =
      impl_->stmt("SELECT id, data FROM instances WHERE state IN ('running', 'compensating') ORDER BY created_at");
  if (s == nullptr) return impl_->fail("cannot read the unfinished sagas");
  auto read = impl_->read_instances(s, "the unfinished sagas");
  if (!read) return read.error();
  if (read->unreadable.empty()) return std::move(read->sagas);
  std::string what;
  for (std::size_t i = 0; i < read->unreadable.size() && i < kNamedBrokenRows; ++i) {
    what += (what.empty() ? "" : "; ") + read->unreadable[i].problem;
  }
  if (read->unreadable.size() > kNamedBrokenRows) {
    what += "; and " + std::to_string(read->unreadable.size() - kNamedBrokenRows) + " more";
  }
  return Status{Errc::corrupt, std::to_string(read->unreadable.size()) + " unfinished saga(s) in " + impl_->path +
                                   " cannot be read: " + what +
                                   ". Recovery never skips a saga, so nothing was started: restore the file from a "
                                   "backup, or salvage what is readable with `sqlite3 " + impl_->path +
                                   " .recover` into a new file and start on that"};
}

Result<Listed> SqliteStore::list(const ListFilter& f) {
  sqlite3_stmt* s = impl_->stmt(
      "SELECT id, data FROM instances WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR saga = ?2) "
      "ORDER BY created_at DESC, id LIMIT ?3 OFFSET ?4");
  if (s == nullptr) return impl_->fail("cannot list sagas");
  if (f.state) Impl::bind(s, 1, std::string(sagas::to_string(*f.state)));
  if (f.saga) Impl::bind(s, 2, *f.saga);
  Impl::bind(s, 3, static_cast<std::int64_t>(f.limit));
  Impl::bind(s, 4, static_cast<std::int64_t>(f.offset));
  return impl_->read_instances(s, "the list of sagas");
}

Result<std::vector<HistoryRow>> SqliteStore::history(const std::string& id) {
  std::vector<HistoryRow> out;
  sqlite3_stmt* s = impl_->stmt("SELECT at, event, step, detail FROM history WHERE saga_id = ? ORDER BY id");
  if (s == nullptr) return impl_->fail("cannot read the history of saga " + id);
  Impl::bind(s, 1, id);
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto event = sagas::event_type_from(col_text(s, 1));
    if (!event) {
      return Status{Errc::corrupt, "saga " + id + ": a history row has the unknown event \"" + col_text(s, 1) + "\""};
    }
    out.push_back({sqlite3_column_int64(s, 0), *event, col_text(s, 2), col_text(s, 3)});
  }
  if (rc != SQLITE_DONE) return impl_->fail("cannot read the history of saga " + id);
  return out;
}

Result<std::vector<OutboxMessage>> SqliteStore::pending_outbox() {
  std::vector<OutboxMessage> out;
  sqlite3_stmt* s = impl_->stmt("SELECT id, saga_id, topic, key, headers, value FROM outbox ORDER BY id");
  if (s == nullptr) return impl_->fail("cannot read the outbox");
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto headers = headers_from(col_text(s, 4));
    if (!headers) {
      return Status{Errc::corrupt, "outbox message " + std::to_string(sqlite3_column_int64(s, 0)) + " of saga " +
                                       col_text(s, 1) + " in " + impl_->path +
                                       " has damaged headers; restore the file from a backup"};
    }
    out.push_back({sqlite3_column_int64(s, 0), col_text(s, 1), col_text(s, 2), col_text(s, 3), std::move(*headers),
                   col_text(s, 5)});
  }
  if (rc != SQLITE_DONE) return impl_->fail("cannot read the outbox");
  return out;
}

Status SqliteStore::mark_sent(std::span<const std::int64_t> ids) {
  if (ids.empty()) return Status::success();
  return impl_->transaction([&] { return impl_->delete_outbox(ids); });
}

namespace {

// Whether a one-parameter existence query finds a row.
Result<bool> exists(sqlite3_stmt* s, const std::string& value, const std::function<Status()>& fail) {
  if (s == nullptr) return fail();
  sqlite3_bind_text(s, 1, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail();
}

}  // namespace

Result<bool> SqliteStore::reply_processed(const std::string& message_id) {
  return exists(impl_->stmt("SELECT 1 FROM processed_replies WHERE message_id = ?"), message_id,
                [&] { return impl_->fail("cannot look up reply " + message_id); });
}

Result<bool> SqliteStore::was_pruned(const std::string& id) {
  return exists(impl_->stmt("SELECT 1 FROM pruned WHERE saga_id = ?"), id,
                [&] { return impl_->fail("cannot look up saga " + id); });
}

Result<std::vector<std::string>> SqliteStore::ids_starting_with(const std::string& prefix, std::size_t limit) {
  auto& d = *impl_;
  // A range on the primary key, not a scan: every id with the prefix sorts between the prefix
  // and the prefix followed by the highest byte (ids are ASCII).
  sqlite3_stmt* s = d.stmt("SELECT id FROM instances WHERE id >= ? AND id < ? ORDER BY id LIMIT ?");
  if (s == nullptr) return d.fail("cannot look up ids starting with " + prefix);
  Impl::bind(s, 1, prefix);
  Impl::bind(s, 2, prefix + "\xff");
  Impl::bind(s, 3, static_cast<std::int64_t>(limit));
  std::vector<std::string> ids;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) ids.push_back(col_text(s, 0));
  if (rc != SQLITE_DONE) return d.fail("cannot look up ids starting with " + prefix);
  return ids;
}

Result<std::size_t> SqliteStore::prune(TimeMs before, std::size_t max_sagas, TimeMs now) {
  auto& d = *impl_;
  std::vector<std::string> ids;
  sqlite3_stmt* s = d.stmt(
      "SELECT id FROM instances WHERE state IN ('completed', 'compensated', 'failed') AND updated_at < ? LIMIT ?");
  if (s == nullptr) return d.fail("cannot look for sagas to prune");
  Impl::bind(s, 1, before);
  Impl::bind(s, 2, static_cast<std::int64_t>(max_sagas));
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) ids.push_back(col_text(s, 0));
  if (rc != SQLITE_DONE) return d.fail("cannot look for sagas to prune");
  Status st = d.transaction([&]() -> Status {
    // A tombstone outlives its saga by one more retention period.
    sqlite3_stmt* old = d.stmt("DELETE FROM pruned WHERE at < ?");
    if (old == nullptr) return d.fail("cannot prune");
    Impl::bind(old, 1, before);
    if (sqlite3_step(old) != SQLITE_DONE) return d.fail("cannot prune");
    for (const auto& id : ids) {
      for (const char* sql : {"DELETE FROM history WHERE saga_id = ?", "DELETE FROM steps WHERE saga_id = ?",
                              "DELETE FROM outbox WHERE saga_id = ?", "DELETE FROM processed_replies WHERE saga_id = ?",
                              "DELETE FROM instances WHERE id = ?"}) {
        sqlite3_stmt* del = d.stmt(sql);
        if (del == nullptr) return d.fail("cannot prune");
        Impl::bind(del, 1, id);
        if (sqlite3_step(del) != SQLITE_DONE) return d.fail("cannot prune");
      }
      sqlite3_stmt* tomb = d.stmt("INSERT OR REPLACE INTO pruned (saga_id, at) VALUES (?, ?)");
      if (tomb == nullptr) return d.fail("cannot prune");
      Impl::bind(tomb, 1, id);
      Impl::bind(tomb, 2, now);
      if (sqlite3_step(tomb) != SQLITE_DONE) return d.fail("cannot prune");
    }
    return Status::success();
  });
  if (!st.ok()) return st;
  return ids.size();
}

}  // namespace state
