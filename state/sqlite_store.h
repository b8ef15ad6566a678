// SqliteStore: the Store on one SQLite file (WAL mode), the only code that includes sqlite3.h.
//
// Opening it as the orchestrator takes an exclusive lock on the file's inode (flock), so two
// orchestrators can never write one file, whatever path or symlink names it; a second is
// refused with the holder's pid (kept in "<real path>.lock"). Every commit first checks that
// the path still names that file, intact (sqlite_file.h): a state file truncated, replaced or
// removed under a running orchestrator fails its commits, and nothing is acknowledged.
// Read-only opening (for `sagactl status`) takes no lock, and can neither checkpoint nor
// delete anything: it never changes a running orchestrator's files. `synchronous`
// is FULL by default: a commit survives power loss, not just a process crash. A file of an
// earlier release is migrated in place when an orchestrator opens it; a read-only open of
// one is refused with what to do.
//
// The journal (store.h) is three tables: `journal` (one row per entry, keyed by the saga's
// number and the position), `sagas` (one small summary row per saga, updated in place with
// each transition: what lists show and recovery and retention search by) and `journal_state`
// (the last position and the delivered watermark). Which entries are snapshots: journal_writer.h.
//
// Threading (store.h): commit() uses a connection of its own, so it may run on a writer
// thread while the reads (and prune) run on the owner's thread on another connection.
#pragma once

#include <memory>
#include <string>

#include "sagas/result.h"
#include "state/journal_writer.h"
#include "state/store.h"

namespace state {

struct SqliteOptions {
  std::string path = "sagactl.db";
  bool synchronous_full = true;  // false: NORMAL (survives a process crash, not power loss)
  bool read_only = false;
  bool wait_for_lock = false;  // wait for another orchestrator's lock to end (a standby), not refuse
};

class SqliteStore final : public Store {
 public:
  // Opens (creating and migrating as needed). Errors say what to do: locked, unreadable,
  // made by a newer sagactl, not a database.
  static sagas::Result<std::unique_ptr<SqliteStore>, Status> open(const SqliteOptions& options);
  ~SqliteStore() override;

  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status commit(std::span<Commit> batch, Position delivered) override;
  Status check() override;
  Result<std::optional<sagas::Instance>> load(const std::string& id) override;
  Result<std::vector<sagas::Instance>> load_active() override;
  Result<Listed> list(const ListFilter& filter) override;
  Result<std::vector<StateCount>> count(const ListFilter& filter) override;
  Result<std::vector<HistoryRow>> history(const std::string& id) override;
  Result<Backlog> undelivered() override;
  Result<bool> was_pruned(const std::string& id) override;
  Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override;
  Result<std::size_t> prune(TimeMs before, std::size_t max_sagas, TimeMs now) override;
  // A second connection to the file, for reads only, checked against this store's lock.
  Result<std::unique_ptr<Store>> open_reader() override;

  static constexpr int kSnapshotEvery = journal::kSnapshotEvery;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace state
