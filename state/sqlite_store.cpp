#include "state/sqlite_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>
#include <vector>

#include "state/journal_codec.h"
#include "state/journal_writer.h"
#include "state/sqlite_conn.h"
#include "state/sqlite_file.h"
#include "state/sqlite_migrations.h"
#include "state/sqlite_session.h"
#include "state/sqlite_views.h"
#include "state/store_common.h"

namespace state {

namespace {

using sqlite::bind_arg;
using sqlite::col_text;
using sqlite::text_of;
using sqlite::Conn;

using journal::Known;

}  // namespace

struct SqliteStore::Impl {
  sqlite::FileLock lock;  // first: released after both connections closed

  ~Impl() {
    // A file no longer the one opened (truncated, replaced) is not checkpointed into on close:
    // its write-ahead log may be all that is left of the last commits.
    if (writer.db() != nullptr && !lock.check().ok()) {
      for (Conn* c : {&writer, &reader}) {
        if (c->db() != nullptr) sqlite3_db_config(c->db(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
      }
    }
  }

  // The owner's reads touch the -shm mapping too: refused, not a SIGBUS, once a file of the
  // database is no longer the one opened or writable. A reader handle (open_reader) asks the
  // owner's lock.
  Status usable() const {
    if (guard != nullptr) return guard->check();
    return writer.db() == nullptr ? Status::success() : lock.check();
  }
  const sqlite::FileLock* guard = nullptr;  // a reader handle: its owner's lock
  std::string path;
  Conn reader;  // the owner's thread: reads
  Conn writer;  // commit(), possibly on a thread of its own; unused when read-only

  // Owned by commit().
  Position last = 0;
  Position delivered = 0;
  journal::KnownSagas known;

  // --- reading (reader connection) ---

  // Every entry of saga number `num` from its latest snapshot on, oldest first.
  Result<std::vector<journal::Entry>> entries_from_snapshot(std::int64_t num, const std::string& id) {
    sqlite::Query s = reader.stmt("SELECT position, at, data FROM journal WHERE saga_num = ? ORDER BY position DESC");
    if (s == nullptr) return reader.fail("cannot read saga " + id);
    bind_arg(s, 1, num);
    std::vector<journal::Entry> newest_first;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      auto e = journal::decode(text_of(s, 2), sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                               journal::Parts::state);
      if (!e) return corrupt_saga(id, "journal entry " + std::to_string(sqlite3_column_int64(s, 0)) + ": " + e.error().message);
      bool snapshot = e->snapshot.has_value();
      newest_first.push_back(std::move(e).value());
      if (snapshot) break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return reader.fail("cannot read saga " + id);
    return std::vector<journal::Entry>(std::make_move_iterator(newest_first.rbegin()),
                                       std::make_move_iterator(newest_first.rend()));
  }

  Result<std::optional<sagas::Instance>> read_saga(std::int64_t num, const std::string& id) {
    auto entries = entries_from_snapshot(num, id);
    if (!entries) return entries.error();
    auto inst = journal::fold(std::move(entries).value());
    if (!inst) return corrupt_saga(id, inst.error().message);
    return std::move(inst).value();
  }

  Result<std::optional<sagas::Instance>> read_saga(const std::string& id) {
    sqlite::Query s = reader.stmt("SELECT num FROM sagas WHERE id = ?");
    if (s == nullptr) return reader.fail("cannot read saga " + id);
    bind_arg(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return std::optional<sagas::Instance>();
    if (rc != SQLITE_ROW) return reader.fail("cannot read saga " + id);
    return read_saga(sqlite3_column_int64(s, 0), id);
  }

  // The (number, id) pairs a query on `sagas` returns (its first two columns).
  Result<std::vector<std::pair<std::int64_t, std::string>>> sagas_of(sqlite3_stmt* s, const std::string& what) {
    std::vector<std::pair<std::int64_t, std::string>> out;
    if (s == nullptr) return reader.fail("cannot read " + what);
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.emplace_back(sqlite3_column_int64(s, 0), col_text(s, 1));
    if (rc != SQLITE_DONE) return reader.fail("cannot read " + what);
    return out;
  }

  // The ids a query on `sagas` returns (its first column).
  Result<std::vector<std::string>> ids_of(sqlite3_stmt* s, const std::string& what) {
    std::vector<std::string> ids;
    if (s == nullptr) return reader.fail("cannot read " + what);
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) ids.push_back(col_text(s, 0));
    if (rc != SQLITE_DONE) return reader.fail("cannot read " + what);
    return ids;
  }

  // Loads each saga a query on `sagas` returns as (number, id): the readable ones, and the
  // damaged ones apart. I/O errors fail the read.
  Result<Listed> read_sagas(sqlite3_stmt* s, const std::string& what) {
    auto rows = sagas_of(s, what);
    if (!rows) return rows.error();
    Listed out;
    for (const auto& [num, id] : *rows) {
      auto inst = read_saga(num, id);
      if (inst && *inst) {
        out.sagas.push_back(std::move(**inst));
      } else if (inst) {
        out.unreadable.push_back(without_entries(id));
      } else if (inst.error().code == Errc::corrupt) {
        out.unreadable.push_back({id, inst.error().message});
      } else {
        return inst.error();
      }
    }
    return out;
  }

  // --- writing (writer connection) ---

  // An entry of saga number `num` (0: a dead letter); `id` names it in errors.
  Status append(std::int64_t num, const std::string& id, Position pos, TimeMs at, const std::string& data) {
    sqlite::Query s = writer.stmt("INSERT INTO journal (saga_num, position, at, data) VALUES (?, ?, ?, ?)");
    if (s == nullptr) return writer.fail("cannot prepare");
    bind_arg(s, 1, num);
    bind_arg(s, 2, pos);
    bind_arg(s, 3, at);
    bind_arg(s, 4, data);
    if (sqlite3_step(s) != SQLITE_DONE) return writer.fail("cannot write the journal of saga " + id);
    return Status::success();
  }

  // (id, saga, version, state, created_at, updated_at, error), the summary row's columns.
  static void bind_summary(sqlite3_stmt* s, const sagas::Instance& inst) {
    bind_arg(s, 1, inst.id);
    bind_arg(s, 2, inst.saga);
    bind_arg(s, 3, std::int64_t{inst.version});
    bind_arg(s, 4, sagas::to_string(inst.state));
    bind_arg(s, 5, inst.created_at);
    bind_arg(s, 6, inst.updated_at);
    bind_arg(s, 7, inst.error);
  }

  // The saga's row, new; returns its number.
  Result<std::int64_t> insert_row(const sagas::Instance& inst) {
    sqlite::Query s = writer.stmt(
        "INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "RETURNING num");
    if (s == nullptr) return writer.fail("cannot prepare");
    bind_summary(s, inst);
    if (sqlite3_step(s) != SQLITE_ROW) {
      if (sqlite3_extended_errcode(writer.db()) == SQLITE_CONSTRAINT_UNIQUE) {
        return Status{Errc::corrupt, "saga id \"" + inst.id + "\" already exists"};
      }
      return writer.fail("cannot write saga " + inst.id);
    }
    return sqlite3_column_int64(s, 0);
  }

  // The saga's row brought up to date, and its number. An upsert: a saga this writer does
  // not know may still lack its row (a test's commit).
  Result<std::int64_t> update_row(const sagas::Instance& inst) {
    sqlite::Query s = writer.stmt(
        "INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, error = excluded.error "
        "RETURNING num");
    if (s == nullptr) return writer.fail("cannot prepare");
    bind_summary(s, inst);
    if (sqlite3_step(s) != SQLITE_ROW) return writer.fail("cannot write saga " + inst.id);
    return sqlite3_column_int64(s, 0);
  }

  // The summary of a saga this writer knows, after each of its transitions. The state is
  // written only when it changed: most transitions then leave the state indexes and the
  // counting triggers alone.
  Status touch_row(const Known& k, const sagas::Instance& inst) {
    const bool moved = k.state != inst.state;
    sqlite::Query s = moved ? writer.stmt("UPDATE sagas SET updated_at = ?, error = ?, state = ? WHERE num = ?")
                            : writer.stmt("UPDATE sagas SET updated_at = ?, error = ? WHERE num = ?");
    if (s == nullptr) return writer.fail("cannot prepare");
    bind_arg(s, 1, inst.updated_at);
    bind_arg(s, 2, inst.error);
    if (moved) bind_arg(s, 3, sagas::to_string(inst.state));
    bind_arg(s, moved ? 4 : 3, k.num);
    if (sqlite3_step(s) != SQLITE_DONE) return writer.fail("cannot write saga " + inst.id);
    return Status::success();
  }

  // One entry, with what the batch knows of its saga.
  Status write(const Commit& c, Position pos, journal::BatchMemory& memory) {
    const auto& inst = c.instance;
    if (c.messages_only) return append(0, "", pos, inst.updated_at, journal::encode_messages(c));
    std::optional<Known>& k = memory.of(inst.id);
    const bool snapshot = journal::needs_snapshot(c, k);
    if (c.new_instance || !k) {
      auto num = c.new_instance ? insert_row(inst) : update_row(inst);
      if (!num) return num.error();
      if (!k) k.emplace();
      k->num = *num;
    } else if (Status st = touch_row(*k, inst); !st.ok()) {
      return st;
    }
    if (Status st = append(k->num, inst.id, pos, inst.updated_at, journal::encode_entry(c, *k, snapshot)); !st.ok()) {
      return st;
    }
    journal::forget_if_done(c, k);
    return Status::success();
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

sagas::Result<std::unique_ptr<SqliteStore>, Status> SqliteStore::open(const SqliteOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = options.path;
  if (options.read_only) {
    if (Status st = sqlite::check_before_open(options.path, true); !st.ok()) return st;
    if (Status st = impl->reader.open(options.path, SQLITE_OPEN_READONLY, sqlite::read_only_vfs()); !st.ok()) return st;
    // Reads only: no checkpoint, and (the VFS) no file deleted, whatever this process sees.
    sqlite3_db_config(impl->reader.db(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    auto version = sqlite::schema_version(impl->reader);
    if (!version) {
      return Status{version.error().code, options.path + " " + version.error().message + sqlite::kStateFileHint};
    }
    if (*version == 0) {
      return Status{Errc::not_found,
                    options.path + " is a SQLite database but not sagactl's (no saga state)" + sqlite::kStateFileHint};
    }
    if (*version != sqlite::kSchemaVersion) {
      return Status{Errc::corrupt, options.path + " has schema " + std::to_string(*version) + "; this sagactl reads " +
                                       std::to_string(sqlite::kSchemaVersion) +
                                       (*version < sqlite::kSchemaVersion
                                            ? ". Start `sagactl run` on it once: it migrates the file in place"
                                            : ". It was written by a newer sagactl: upgrade this one")};
    }
    return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
  }
  auto lock = sqlite::FileLock::take(options.path, options.wait_for_lock);
  if (!lock) return lock.error();
  impl->lock = std::move(lock).value();
  if (Status st = sqlite::check_before_open(options.path, false); !st.ok()) return st;
  Conn& w = impl->writer;
  if (Status st = w.open(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE); !st.ok()) return st;
  // Durability rests on these two settings: each is read back, not assumed.
  auto mode = w.query_one("PRAGMA journal_mode = WAL");
  if (!mode) {
    return Status{Errc::corrupt,
                  options.path + " is not a sagactl state file (" + w.last_error() + ")" + sqlite::kStateFileHint};
  }
  if (*mode != "wal") {
    return Status{Errc::io, options.path + " cannot use write-ahead logging (journal_mode is " + *mode +
                                "); put the state file on a local file system that supports shared memory"};
  }
  const char* want = options.synchronous_full ? "2" : "1";  // FULL : NORMAL
  w.exec(options.synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  if (auto sync = w.query_one("PRAGMA synchronous"); !sync || *sync != want) {
    return Status{Errc::io, "cannot set synchronous = " + std::string(options.synchronous_full ? "FULL" : "NORMAL") +
                                " on " + options.path + " (" + w.last_error() + ")"};
  }
  if (Status st = sqlite::migrate(w); !st.ok()) return st;
  sqlite::Query s = w.stmt("SELECT last, delivered FROM journal_state");
  if (s == nullptr || sqlite3_step(s) != SQLITE_ROW) return w.fail("cannot read the journal's position");
  impl->last = sqlite3_column_int64(s, 0);
  impl->delivered = sqlite3_column_int64(s, 1);
  if (Status st = impl->reader.open(options.path, SQLITE_OPEN_READWRITE); !st.ok()) return st;
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

Status SqliteStore::commit(std::span<Commit> batch, Position delivered) {
  auto& d = *impl_;
  if (batch.empty() && delivered <= d.delivered) return Status::success();
  if (d.writer.db() == nullptr) return Status{Errc::io, d.path + " was opened for reading only: commit through its owner"};
  // Never committed to a file that is no longer the one opened: it would be acknowledged and lost.
  if (Status st = d.lock.check(); !st.ok()) return st;
  Position pos = d.last;
  Position watermark = std::max(delivered, d.delivered);
  journal::BatchMemory memory(d.known);
  Status st = d.writer.transaction([&]() -> Status {
    for (auto& c : batch) {
      if (Status written = d.write(c, ++pos, memory); !written.ok()) return written;
    }
    sqlite::Query s = d.writer.stmt("UPDATE journal_state SET last = ?, delivered = ?");
    if (s == nullptr) return d.writer.fail("cannot prepare");
    bind_arg(s, 1, pos);
    bind_arg(s, 2, std::min(watermark, pos));
    if (sqlite3_step(s) != SQLITE_DONE) return d.writer.fail("cannot write the journal's position");
    return Status::success();
  });
  if (!st.ok()) return st;  // what `memory` took out of `known` is dropped: snapshots next time
  Position first = d.last;
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].position = first + 1 + static_cast<Position>(i);
  d.last = pos;
  d.delivered = std::min(watermark, pos);
  memory.keep();
  return Status::success();
}

Status SqliteStore::check() { return impl_->usable(); }

Result<std::unique_ptr<Store>> SqliteStore::open_reader() {
  auto impl = std::make_unique<Impl>();
  impl->path = impl_->path;
  impl->guard = impl_->writer.db() != nullptr ? &impl_->lock : impl_->guard;
  if (Status st = impl->usable(); !st.ok()) return st;
  int flags = impl_->writer.db() != nullptr ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
  if (Status st = impl->reader.open(impl->path, flags, flags == SQLITE_OPEN_READONLY ? sqlite::read_only_vfs() : nullptr);
      !st.ok()) {
    return st;
  }
  // A reader never checkpoints: that is the owner's (whose file it may no longer be).
  sqlite3_db_config(impl->reader.db(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  return std::unique_ptr<Store>(new SqliteStore(std::move(impl)));
}

Result<std::optional<sagas::Instance>> SqliteStore::load(const std::string& id) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  return impl_->read_saga(id);
}

Result<std::vector<sagas::Instance>> SqliteStore::load_active() {
  if (Status st = impl_->usable(); !st.ok()) return st;
  auto read = impl_->read_sagas(
      // Not "running or compensating": a summary whose state is damaged must not hide an
      // unfinished saga from recovery, so all but the finished ones are read.
      impl_->reader.stmt("SELECT num, id FROM sagas WHERE state NOT IN ('completed', 'compensated', 'failed') ORDER BY num"),
      "the unfinished sagas");
  if (!read) return read.error();
  std::erase_if(read->sagas, [](const sagas::Instance& i) { return sagas::is_terminal(i.state); });
  if (read->unreadable.empty()) return std::move(read->sagas);
  return unreadable_unfinished(read->unreadable, impl_->path,
                               "restore the file from a backup, or salvage what is readable with `sqlite3 " +
                                   impl_->path + " .recover` into a new file and start on that");
}

Result<Listed> SqliteStore::list(const ListFilter& f) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  return sqlite::list_summaries(impl_->reader, f);
}

Result<std::vector<StateCount>> SqliteStore::count(const ListFilter& f) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  return sqlite::count_summaries(impl_->reader, f);
}

Result<std::vector<HistoryRow>> SqliteStore::history(const std::string& id) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  return sqlite::read_history(impl_->reader, id);
}

Result<Backlog> SqliteStore::undelivered() {
  if (Status st = impl_->usable(); !st.ok()) return st;
  sqlite::Session session(impl_->reader);
  return sql::undelivered(session);
}

Result<bool> SqliteStore::was_pruned(const std::string& id) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  sqlite::Session session(impl_->reader);
  return sql::was_pruned(session, id);
}

Result<std::vector<std::string>> SqliteStore::ids_starting_with(const std::string& prefix, std::size_t limit) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  auto& r = impl_->reader;
  // A range on the primary key, not a scan: every id with the prefix sorts between the prefix
  // and the prefix followed by the highest byte (ids are ASCII).
  sqlite::Query s = r.stmt("SELECT id FROM sagas WHERE id >= ? AND id < ? ORDER BY id LIMIT ?");
  if (s == nullptr) return r.fail("cannot look up ids starting with " + prefix);
  const std::string above = prefix + sqlite::kAboveAnyText;
  bind_arg(s, 1, prefix);
  bind_arg(s, 2, above);
  bind_arg(s, 3, static_cast<std::int64_t>(limit));
  return impl_->ids_of(s, "ids starting with " + prefix);
}

// On the committing connection: the engine prunes on its writer thread, between commits.
Result<std::size_t> SqliteStore::prune(TimeMs before, std::size_t max_sagas, TimeMs now) {
  if (Status st = impl_->usable(); !st.ok()) return st;
  if (impl_->writer.db() == nullptr) return Status{Errc::io, "a state file opened read-only is not pruned: prune through the orchestrator that owns it"};
  sqlite::Session session(impl_->writer);
  return sql::prune(session, before, max_sagas, now);
}

}  // namespace state
