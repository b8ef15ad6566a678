// PostgresStore: the Store on a PostgreSQL database (libpq), selected by a `state:` of
// postgres://… or postgresql://…. The same journal as the SQLite store (store.h), in the same
// shape: `sagas` (one summary row per saga, numbered), `journal` (one row per entry, keyed by
// the saga's number and the position), `journal_state` (the last position, the delivered
// watermark, and the owner's epoch), `saga_counts` (kept by triggers) and `pruned`. Entries
// are the journal codec's JSON text; which are snapshots: journal_writer.h.
//
// Crash guarantees are the SQLite store's: a commit is one transaction, durable when
// PostgreSQL says COMMIT succeeded (synchronous_commit as the server has it: keep it on).
// A commit whose connection was lost during COMMIT has an unknown outcome; the store dials
// again and reads the journal's last position to learn whether it happened, so a retried
// batch is never written twice.
//
// One owner at a time. Opening it as the orchestrator takes a session advisory lock (waiting
// a while for it; a second orchestrator is then refused, naming the holder) and increments
// the epoch; every commit
// checks the epoch in its transaction, so an owner that lost the database (its session, and
// with it the lock, ended while it was paused) and was replaced can never write again: its
// commits fail with Errc::locked. Read-only opening (the CLI) takes neither.
//
// Threading (store.h): commit() uses a connection of its own, so it may run on a writer
// thread while the reads (and prune) run on the owner's thread on another connection.
#pragma once

#include <memory>
#include <string>

#include "sagas/result.h"
#include "state/store.h"

namespace postgres {

struct PostgresOptions {
  std::string url;         // a libpq URL or connection string
  std::string owner;       // who holds it, as a refused second orchestrator is told
  bool read_only = false;
  // How long opening waits for the owner's lock before it refuses (a killed owner's session
  // lasts until the server sees its connection close); negative: for ever (a standby).
  std::int64_t lock_wait_ms = 10'000;
  // The schema that holds the tables (a cluster shard's: letters, digits and '_'); empty:
  // the database's default (search_path).
  std::string schema;
  // Cluster shards: ownership is decided elsewhere (the consumer group), so opening takes no
  // lock and waits for nobody; it takes the next epoch at once, which fences the previous
  // owner (its next commit fails with Errc::locked).
  bool take_over = false;
};

// Whether a `state:` value names a PostgreSQL database rather than a SQLite file.
bool is_postgres_url(const std::string& state);

// The URL without a password, for messages.
std::string redact(const std::string& url);

class PostgresStore final : public state::Store {
 public:
  // Connects (creating the schema in an empty database). Errors say what to do: unreachable,
  // in use by another orchestrator, made by a newer sagactl.
  static sagas::Result<std::unique_ptr<PostgresStore>, state::Status> open(const PostgresOptions& options);
  ~PostgresStore() override;

  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

  state::Status commit(std::span<state::Commit> batch, state::Position delivered) override;
  state::Result<std::optional<sagas::Instance>> load(const std::string& id) override;
  state::Result<std::vector<sagas::Instance>> load_active() override;
  state::Result<state::Listed> list(const state::ListFilter& filter) override;
  state::Result<std::vector<state::StateCount>> count(const state::ListFilter& filter) override;
  state::Result<std::vector<state::HistoryRow>> history(const std::string& id) override;
  state::Result<state::Backlog> undelivered() override;
  state::Result<bool> was_pruned(const std::string& id) override;
  state::Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override;
  state::Result<std::size_t> prune(sagas::TimeMs before, std::size_t max_sagas, sagas::TimeMs now) override;
  // A read-only connection to the same database and schema.
  state::Result<std::unique_ptr<state::Store>> open_reader() override;

  // The epoch this owner holds (0 when read-only).
  std::int64_t epoch() const;

  static constexpr int kSchemaVersion = 2;

 private:
  struct Impl;
  explicit PostgresStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postgres
