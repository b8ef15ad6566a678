#include "postgres/store.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <vector>

#include "state/journal_codec.h"
#include "state/journal_writer.h"
#include "postgres/conn.h"
#include "state/store_common.h"

namespace postgres {

namespace {

using state::journal::Known;

// The session advisory lock that keeps a second orchestrator off the database (any number,
// the same in every sagactl: "sagactl" in ASCII).
constexpr std::int64_t kOwnerLock = 0x73616761'63746cLL;

// SQLSTATE of sagactl_advance() refusing an epoch that no longer owns the journal.
constexpr std::string_view kFenced = "SG001";

// The tables; they say version 1, and a fresh database then runs every migration below.
// The result (schema 2): as the SQLite store's schema 3 (its comments there), with: ids in byte order
// (COLLATE "C": lists, cursors and prefixes sort as in SQLite, and LIKE 'prefix%' is a range
// on the index), `journal.snapshot` marking the entries a read starts from, and the owner's
// epoch in `journal_state`.
//
// Made for the commit's cost: a transition updates its saga's row (state, updated_at,
// error), so no index names updated_at (the update stays a heap-only tuple on a page with
// room, fillfactor 80), and the counts are kept per statement from its transition tables (one
// count row updated per name, version and state a commit touched, not once per saga: many
// versions of one row in one transaction make each further update slower).
const char* const kSchema = R"sql(
CREATE TABLE sagactl_schema (version integer NOT NULL);
CREATE TABLE sagas (
  num bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text COLLATE "C" NOT NULL UNIQUE,
  saga text NOT NULL,
  version integer NOT NULL,
  state text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  error text NOT NULL
) WITH (fillfactor = 80);
CREATE INDEX sagas_by_created ON sagas (created_at DESC, id);
CREATE INDEX sagas_by_state_created ON sagas (state, created_at DESC, id);
CREATE TABLE saga_counts (
  saga text NOT NULL,
  version integer NOT NULL,
  state text NOT NULL,
  n bigint NOT NULL,
  PRIMARY KEY (saga, version, state)
);
CREATE TABLE journal (
  saga_num bigint NOT NULL,
  position bigint NOT NULL,
  at bigint NOT NULL,
  snapshot boolean NOT NULL,
  data text NOT NULL,
  PRIMARY KEY (saga_num, position)
);
CREATE INDEX journal_by_position ON journal (position);
CREATE TABLE journal_state (
  last bigint NOT NULL,
  delivered bigint NOT NULL,
  epoch bigint NOT NULL,
  owner text NOT NULL
);
INSERT INTO journal_state VALUES (0, 0, 0, '');
CREATE TABLE pruned (
  saga_id text COLLATE "C" PRIMARY KEY,
  at bigint NOT NULL
);
INSERT INTO sagactl_schema VALUES (1);
)sql";

// Each step takes the schema from the version before it to its own (the array's index + 2),
// in the migration's transaction.
const char* const kMigrations[] = {
    // 2: counts per statement, no index on updated_at, room for heap-only updates, and the
    // fenced move of the position a pipelined commit starts with.
    R"sql(
DROP TRIGGER IF EXISTS saga_counted ON sagas;
DROP TRIGGER IF EXISTS saga_count_moved ON sagas;
DROP FUNCTION IF EXISTS sagactl_count();
DROP INDEX IF EXISTS sagas_by_state;
ALTER TABLE sagas SET (fillfactor = 80);
-- A statement's rows added to and taken from the counts of their name, version and state:
-- an update's rows whose state did not move cancel out.
CREATE OR REPLACE FUNCTION sagactl_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO saga_counts (saga, version, state, n)
      SELECT saga, version, state, count(*) FROM new_rows GROUP BY saga, version, state
      ON CONFLICT (saga, version, state) DO UPDATE SET n = saga_counts.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE saga_counts c SET n = c.n - d.k
      FROM (SELECT saga, version, state, count(*) AS k FROM old_rows GROUP BY saga, version, state) d
      WHERE c.saga = d.saga AND c.version = d.version AND c.state = d.state;
  ELSE
    INSERT INTO saga_counts (saga, version, state, n)
      SELECT saga, version, state, sum(k) FROM (
        SELECT saga, version, state, -1 AS k FROM old_rows
        UNION ALL SELECT saga, version, state, 1 FROM new_rows) d
      GROUP BY saga, version, state HAVING sum(k) <> 0
      ON CONFLICT (saga, version, state) DO UPDATE SET n = saga_counts.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;
-- Moves the journal's position in the commit's own transaction, if the epoch is still the
-- owner's; otherwise fails (SQLSTATE SG001), so nothing of that commit lands.
CREATE OR REPLACE FUNCTION sagactl_advance(new_last bigint, new_delivered bigint, owner_epoch bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE journal_state SET last = new_last, delivered = new_delivered WHERE epoch = owner_epoch;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'the journal is no longer epoch %''s', owner_epoch USING ERRCODE = 'SG001';
  END IF;
END $$;
CREATE TRIGGER sagas_inserted AFTER INSERT ON sagas REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
CREATE TRIGGER sagas_updated AFTER UPDATE ON sagas REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
CREATE TRIGGER sagas_deleted AFTER DELETE ON sagas REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION sagactl_count();
UPDATE sagactl_schema SET version = 2;
)sql",
};
static_assert(std::size(kMigrations) + 1 == PostgresStore::kSchemaVersion);

// A LIKE pattern matching every text that starts with `prefix`.
std::string starts_with_pattern(const std::string& prefix) {
  std::string p;
  for (char ch : prefix) {
    if (ch == '%' || ch == '_' || ch == '\\') p += '\\';
    p += ch;
  }
  return p + "%";
}

// A filter as SQL with numbered parameters: only the conditions present, so the planner sees
// plain ranges on the indexes.
struct Where {
  std::string sql;
  std::vector<Param> args;

  void add(const std::string& condition) { sql += (sql.empty() ? " WHERE " : " AND ") + condition; }
  std::string next(Param p) {
    args.push_back(std::move(p));
    return "$" + std::to_string(args.size());
  }
};

Where where_of(const state::ListFilter& f, bool listing) {
  Where w;
  if (listing && f.state) w.add("state = " + w.next(std::string(sagas::to_string(*f.state))));
  if (f.saga) w.add("saga = " + w.next(*f.saga));
  if (f.version) w.add("version = " + w.next(std::int64_t{*f.version}));
  if (f.id_prefix && !f.id_prefix->empty()) w.add("id LIKE " + w.next(starts_with_pattern(*f.id_prefix)));
  if (f.created_from) w.add("created_at >= " + w.next(std::int64_t{*f.created_from}));
  if (f.created_until) w.add("created_at < " + w.next(std::int64_t{*f.created_until}));
  if (listing && f.after) {
    std::string at = w.next(std::int64_t{f.after->created_at});
    w.add("(created_at < " + at + " OR (created_at = " + at + " AND id > " + w.next(f.after->id) + "))");
  }
  return w;
}

// The (position, at, data) rows of one saga's entries, oldest first, folded.
state::Result<std::optional<sagas::Instance>> fold_rows(const Rows& rows, int from, int to, int col, const std::string& id) {
  std::vector<state::journal::Entry> entries;
  for (int i = from; i < to; ++i) {
    auto e = state::journal::decode(rows.text(i, col + 2), rows.int64(i, col), rows.int64(i, col + 1), state::journal::Parts::state);
    if (!e) return state::corrupt_saga(id, "journal entry " + rows.str(i, col) + ": " + e.error().message);
    entries.push_back(std::move(e).value());
  }
  auto inst = state::journal::fold(std::move(entries));
  if (!inst) return state::corrupt_saga(id, inst.error().message);
  return std::move(inst).value();
}

state::Result<std::vector<std::string>> first_column(state::Result<Rows> rows) {
  if (!rows) return rows.error();
  std::vector<std::string> out;
  for (int i = 0; i < rows->size(); ++i) out.push_back(rows->str(i, 0));
  return out;
}

}  // namespace

bool is_postgres_url(const std::string& state) {
  return state.rfind("postgres://", 0) == 0 || state.rfind("postgresql://", 0) == 0;
}

struct PostgresStore::Impl {
  Conn reader;  // the owner's thread: reads and prune
  Conn writer;  // commit(), possibly on a thread of its own; unused when read-only
  std::string owner;
  std::string schema;      // empty: the default one
  bool take_over = false;  // a cluster shard: fenced by the epoch alone, no lock

  // Owned by commit().
  state::Position last = 0;
  state::Position delivered = 0;
  // Set once, when the store is opened (before any thread uses it); read by both threads.
  std::int64_t epoch = 0;
  state::journal::KnownSagas known;

  // --- opening ---

  // Creates the schema in an empty database (once, however many open it at the same time),
  // or checks that it is one this sagactl reads.
  state::Status migrate() {
    return writer.transaction([&]() -> state::Status {
      if (auto locked = writer.run("SELECT pg_advisory_xact_lock($1)", {kOwnerLock + 1}); !locked) return locked.error();
      if (!schema.empty()) {
        if (auto made = writer.run_text("CREATE SCHEMA IF NOT EXISTS " + schema, {}); !made) return made.error();
      } else {
        auto cluster = writer.run("SELECT to_regclass('sagactl_cluster') IS NOT NULL");
        if (!cluster) return cluster.error();
        if (cluster->text(0, 0) == "t") {
          return state::Status{state::Errc::locked, writer.where() + " holds a cluster's state: start this orchestrator in cluster "
                                                       "mode (--cluster), or give it a database of its own"};
        }
      }
      auto exists = writer.run("SELECT to_regclass('sagactl_schema') IS NOT NULL");
      if (!exists) return exists.error();
      if (exists->text(0, 0) != "t") {
        if (state::Status st = writer.exec(kSchema); !st.ok()) return st;
      }
      auto version = writer.run("SELECT version FROM sagactl_schema");
      if (!version) return version.error();
      std::int64_t v = version->empty() ? 0 : version->int64(0, 0);
      if (v >= 1 && v < kSchemaVersion) {
        for (; v < kSchemaVersion; ++v) {
          if (state::Status st = writer.exec(kMigrations[v - 1]); !st.ok()) return st;
        }
        return state::Status::success();
      }
      if (v == kSchemaVersion) return state::Status::success();
      return state::Status{state::Errc::corrupt, writer.where() + " has sagactl schema " + std::to_string(v) + "; this sagactl reads " +
                                       std::to_string(kSchemaVersion) +
                                       (v > kSchemaVersion ? ": it was written by a newer sagactl, upgrade this one"
                                                           : ": the database is damaged")};
    });
  }

  // Takes the owner's lock and a new epoch; the writer's position follows from the database.
  // The lock is waited for a while: the session of an owner that was just killed lives on
  // until the server notices its connection is gone.
  state::Status take_ownership(std::int64_t wait_ms) {
    if (take_over) return next_epoch();
    // lock_timeout 0 waits for ever.
    if (auto set = writer.run_text("SET lock_timeout = " + std::to_string(wait_ms < 0 ? 0 : std::max<std::int64_t>(wait_ms, 1)), {});
        !set) {
      return set.error();
    }
    Diagnostics diag;
    auto got = writer.run("SELECT pg_advisory_lock($1)", {kOwnerLock}, &diag);
    if (auto reset = writer.exec("SET lock_timeout = 0"); !reset.ok()) return reset;
    if (!got && diag.sqlstate != kLockNotAvailable) return got.error();
    if (!got) {
      auto holder = writer.run("SELECT owner FROM journal_state");
      std::string who = holder && !holder->empty() ? holder->str(0, 0) : "unknown";
      return state::Status{state::Errc::locked, writer.where() + " is in use by another orchestrator (" + who + ", still there after " +
                                      std::to_string(wait_ms) + " ms); stop it, or give this one another database"};
    }
    return next_epoch();
  }

  // The next epoch, and the journal's position as it stands: waits for a commit of the
  // previous owner in progress (it holds the row), and fences every later one.
  state::Status next_epoch() {
    auto taken = writer.run("UPDATE journal_state SET epoch = epoch + 1, owner = $1 RETURNING epoch, last, delivered",
                            {owner});
    if (!taken || taken->empty()) return taken ? writer.fail("cannot take the journal over") : taken.error();
    epoch = taken->int64(0, 0);
    last = taken->int64(0, 1);
    delivered = taken->int64(0, 2);
    return state::Status::success();
  }

  // After the writer's connection was lost: dials again and takes the lock back, unless
  // another owner has taken the journal over since (its epoch is newer than ours).
  state::Status regain() {
    if (state::Status st = writer.reconnect(); !st.ok()) return st;
    bool locked = true;
    if (!take_over) {
      auto got = writer.run("SELECT pg_try_advisory_lock($1)", {kOwnerLock});
      if (!got) return got.error();
      locked = got->text(0, 0) == "t";
    }
    auto now = writer.run("SELECT epoch, owner FROM journal_state");
    if (!now || now->empty()) return now ? writer.fail("cannot read the journal's owner") : now.error();
    if (!locked || now->int64(0, 0) != epoch) return fenced(now->int64(0, 0), now->str(0, 1));
    return state::Status::success();
  }

  state::Status fenced(std::int64_t theirs, const std::string& who) const {
    return state::Status{state::Errc::locked, "another orchestrator (" + who + ", epoch " + std::to_string(theirs) +
                                    ") has taken the journal in " + writer.where() + " over from this one (epoch " +
                                    std::to_string(epoch) + (take_over ? "): the shard has moved; nothing more of it is written here"
                                                                       : "): this one must stop; nothing more of it is written")};
  }

  // --- writing (writer connection) ---

  // A batch as the few statements that write it, each over arrays (their number does not
  // grow with the batch): the new sagas' summary rows, the other summaries (each saga's
  // latest in the batch), and the journal entries (saga_num from the id).
  struct Rowset {
    std::vector<const sagas::Instance*> fresh;
    std::vector<const sagas::Instance*> updated;  // in first-touched order, the latest instance each
    std::unordered_map<std::string, std::size_t> updated_at;  // id -> index in `updated`
    std::vector<const std::string*> entry_ids;  // nullptr: a dead letter
    std::vector<std::int64_t> positions, times;
    std::vector<std::string> snapshots, data;  // "t"/"f", the codec's text
  };

  // What one entry adds to the rowset, with what the batch knows of its saga.
  static void plan(const state::Commit& c, state::Position pos, state::journal::BatchMemory& memory, Rowset& rows) {
    const auto& inst = c.instance;
    bool snapshot = false;
    if (c.messages_only) {
      rows.entry_ids.push_back(nullptr);
      rows.data.push_back(state::journal::encode_messages(c));
    } else {
      std::optional<state::journal::Known>& k = memory.of(inst.id);
      snapshot = state::journal::needs_snapshot(c, k);
      if (!k) k.emplace();
      if (c.new_instance) {
        rows.fresh.push_back(&inst);
      } else if (auto [it, added] = rows.updated_at.try_emplace(inst.id, rows.updated.size()); added) {
        rows.updated.push_back(&inst);
      } else {
        rows.updated[it->second] = &inst;
      }
      rows.entry_ids.push_back(&inst.id);
      rows.data.push_back(state::journal::encode_entry(c, *k, snapshot));
      state::journal::forget_if_done(c, k);
    }
    rows.positions.push_back(pos);
    rows.times.push_back(inst.updated_at);
    rows.snapshots.emplace_back(snapshot ? "t" : "f");
  }

  // The summary columns of `sagas` as array parameters $1..$7.
  static std::vector<Param> summary_arrays(const std::vector<const sagas::Instance*>& list) {
    std::vector<const std::string*> ids, names, states, errors;
    std::vector<std::string> state_texts;
    std::vector<std::int64_t> versions, created, updated;
    state_texts.reserve(list.size());
    for (const auto* i : list) {
      ids.push_back(&i->id);
      names.push_back(&i->saga);
      state_texts.emplace_back(sagas::to_string(i->state));
      errors.push_back(&i->error);
      versions.push_back(i->version);
      created.push_back(i->created_at);
      updated.push_back(i->updated_at);
    }
    for (const auto& t : state_texts) states.push_back(&t);
    return {text_array(ids), text_array(names), int_array(versions), text_array(states),
            int_array(created), int_array(updated), text_array(errors)};
  }

  // The statements that write the rowset, after `into`'s.
  static void add_writes(const Rowset& rows, std::vector<Conn::Statement>& into) {
    if (!rows.fresh.empty()) {
      into.push_back({"INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error) "
                      "SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], "
                      "$7::text[])",
                      summary_arrays(rows.fresh)});
    }
    if (!rows.updated.empty()) {
      // The rows that exist updated, the others inserted (a saga this writer does not know
      // may lack its row: a test's commit). Not INSERT … ON CONFLICT DO UPDATE: that locks
      // each row before it updates it, two writes where one does.
      into.push_back(
          {"WITH e AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::bigint[], $6::bigint[], "
           "$7::text[]) AS e (id, saga, version, state, created_at, updated_at, error)), "
           "u AS (UPDATE sagas s SET state = e.state, updated_at = e.updated_at, error = e.error FROM e WHERE s.id = e.id "
           "RETURNING s.id) "
           "INSERT INTO sagas (id, saga, version, state, created_at, updated_at, error) "
           "SELECT * FROM e WHERE e.id NOT IN (SELECT id FROM u)",
           summary_arrays(rows.updated)});
    }
    if (rows.positions.empty()) return;
    std::vector<const std::string*> snapshots, data;
    for (const auto& t : rows.snapshots) snapshots.push_back(&t);
    for (const auto& t : rows.data) data.push_back(&t);
    into.push_back(
        {"INSERT INTO journal (saga_num, position, at, snapshot, data) "
         "SELECT COALESCE(s.num, 0), e.position, e.at, e.snapshot, e.data FROM unnest($1::text[], $2::bigint[], "
         "$3::bigint[], $4::boolean[], $5::text[]) AS e (id, position, at, snapshot, data) LEFT JOIN sagas s ON s.id = e.id",
         {text_array(rows.entry_ids), int_array(rows.positions), int_array(rows.times),
          text_array(snapshots), text_array(data)}});
  }

  // A failed commit pipeline's error in the store's words: fenced, or a saga that exists.
  state::Status refused(state::Status error, const Diagnostics& diag) {
    if (diag.sqlstate == kFenced) {
      auto now = writer.run("SELECT epoch, owner FROM journal_state");
      return fenced(now && !now->empty() ? now->int64(0, 0) : 0, now && !now->empty() ? now->str(0, 1) : "unknown");
    }
    if (diag.sqlstate == kUniqueViolation && diag.detail.starts_with("Key (id)=")) {
      return state::Status{state::Errc::corrupt, existing(diag.detail)};
    }
    return error;
  }

  // "saga id "X" already exists", from the server's "Key (id)=(X) already exists."
  static std::string existing(const std::string& detail) {
    auto from = detail.find("=(");
    auto to = detail.rfind(") already exists");
    std::string id = from != std::string::npos && to != std::string::npos && to > from + 2
                         ? detail.substr(from + 2, to - from - 2)
                         : detail;
    return "saga id \"" + id + "\" already exists";
  }

  // Whether a transaction whose connection was lost in COMMIT committed: the position and
  // watermark it wrote are stored (nothing else writes with this epoch).
  bool committed_anyway(state::Position pos, state::Position watermark) {
    if (!regain().ok()) return false;
    auto now = writer.run("SELECT last, delivered FROM journal_state WHERE epoch = $1", {epoch});
    return now && !now->empty() && now->int64(0, 0) == pos && now->int64(0, 1) == watermark;
  }

  // --- reading (reader connection) ---

  // The unfinished sagas' entries from their latest snapshots, (id, position, at, data).
  static constexpr const char* kActiveEntries =
      "SELECT s.id, j.position, j.at, j.data FROM sagas s LEFT JOIN journal j ON j.saga_num = s.num AND j.position >= "
      "COALESCE((SELECT max(position) FROM journal x WHERE x.saga_num = s.num AND x.snapshot), 0) "
      "WHERE s.state NOT IN ('completed', 'compensated', 'failed') ORDER BY s.num, j.position";
};

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

sagas::Result<std::unique_ptr<PostgresStore>, state::Status> PostgresStore::open(const PostgresOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->owner = options.owner;
  impl->schema = options.schema;
  impl->take_over = options.take_over;
  if (state::Status st = impl->reader.open(options.url, options.schema); !st.ok()) return st;
  if (options.read_only) {
    Diagnostics diag;
    auto version = impl->reader.run("SELECT version FROM sagactl_schema", {}, &diag);
    if (!version && diag.sqlstate == kUndefinedTable) {
      return state::Status{state::Errc::not_found, impl->reader.where() + " holds no sagactl state (has an orchestrator run with it?)"};
    }
    if (!version) return version.error();
    if (version->empty() || version->int64(0, 0) != kSchemaVersion) {
      return state::Status{state::Errc::corrupt, impl->reader.where() + " has a sagactl schema this sagactl does not read (" +
                                       (version->empty() ? std::string("none") : version->str(0, 0)) + "; it reads " +
                                       std::to_string(kSchemaVersion) + ")"};
    }
    return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
  }
  if (state::Status st = impl->writer.open(options.url, options.schema); !st.ok()) return st;
  if (state::Status st = impl->migrate(); !st.ok()) return st;
  if (state::Status st = impl->take_ownership(options.lock_wait_ms); !st.ok()) return st;
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

std::int64_t PostgresStore::epoch() const { return impl_->epoch; }

state::Status PostgresStore::commit(std::span<state::Commit> batch, state::Position delivered) {
  auto& d = *impl_;
  if (batch.empty() && delivered <= d.delivered) return state::Status::success();
  if (d.writer.broken()) {
    if (state::Status st = d.regain(); !st.ok()) return st;
  }
  state::Position pos = d.last;
  state::Position watermark = std::min(std::max(delivered, d.delivered), d.last + static_cast<state::Position>(batch.size()));
  state::journal::BatchMemory memory(d.known);
  Impl::Rowset rows;
  for (auto& c : batch) Impl::plan(c, ++pos, memory, rows);
  // One round trip: the position moved first (the owner's row stays locked to the end, so a
  // takeover waits for this commit, or this commit sees the new epoch and writes nothing),
  // then the rows; all in the pipeline's one transaction.
  std::vector<Conn::Statement> statements;
  statements.push_back({"SELECT sagactl_advance($1, $2, $3)", {pos, watermark, d.epoch}});
  Impl::add_writes(rows, statements);
  Diagnostics diag;
  bool sent = false;  // all of it left this process: lost now, the outcome is unknown
  auto done = d.writer.pipeline(statements, &diag, &sent);
  // Lost before the answer, the transaction may have happened: the journal says whether.
  if (!done && !(sent && d.writer.broken() && d.committed_anyway(pos, watermark))) {
    return d.refused(done.error(), diag);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].position = d.last + 1 + static_cast<state::Position>(i);
  d.last = pos;
  d.delivered = watermark;
  memory.keep();
  return state::Status::success();
}

state::Result<std::optional<sagas::Instance>> PostgresStore::load(const std::string& id) {
  auto rows = impl_->reader.run(
      "SELECT j.position, j.at, j.data FROM sagas s JOIN journal j ON j.saga_num = s.num WHERE s.id = $1 AND "
      "j.position >= COALESCE((SELECT max(position) FROM journal x WHERE x.saga_num = s.num AND x.snapshot), 0) "
      "ORDER BY j.position",
      {id});
  if (!rows) return state::Status{rows.error().code, "cannot read saga " + id + ": " + rows.error().message};
  return fold_rows(*rows, 0, rows->size(), 0, id);
}

state::Result<std::vector<sagas::Instance>> PostgresStore::load_active() {
  auto rows = impl_->reader.run(Impl::kActiveEntries);
  if (!rows) return state::Status{rows.error().code, "cannot read the unfinished sagas: " + rows.error().message};
  std::vector<sagas::Instance> out;
  std::vector<state::BrokenRow> unreadable;
  for (int from = 0; from < rows->size();) {
    int to = from;
    while (to < rows->size() && rows->text(to, 0) == rows->text(from, 0)) ++to;
    std::string id = rows->str(from, 0);
    if (rows->null(from, 1)) {
      unreadable.push_back(state::without_entries(id));
    } else if (auto inst = fold_rows(*rows, from, to, 1, id); !inst) {
      unreadable.push_back({id, inst.error().message});
    } else if (*inst && !sagas::is_terminal((*inst)->state)) {
      out.push_back(std::move(**inst));
    }
    from = to;
  }
  if (unreadable.empty()) return out;
  return state::unreadable_unfinished(unreadable, impl_->reader.where(),
                               "restore the database from a backup, or repair the named sagas' journal rows");
}

state::Result<state::Listed> PostgresStore::list(const state::ListFilter& f) {
  Where w = where_of(f, true);
  std::string limit = w.next(static_cast<std::int64_t>(f.limit));
  std::string offset = w.next(static_cast<std::int64_t>(f.offset));
  auto rows = impl_->reader.run_text("SELECT id, saga, version, state, created_at, updated_at, error FROM sagas" + w.sql +
                                         " ORDER BY created_at DESC, id LIMIT " + limit + " OFFSET " + offset,
                                     w.args);
  if (!rows) return state::Status{rows.error().code, "cannot list sagas: " + rows.error().message};
  state::Listed out;
  for (int i = 0; i < rows->size(); ++i) {
    sagas::Instance inst;
    inst.id = rows->str(i, 0);
    auto state = sagas::saga_state_from(rows->text(i, 3));
    if (!state) {
      out.unreadable.push_back(state::unknown_state(inst.id, rows->str(i, 3)));
      continue;
    }
    inst.saga = rows->str(i, 1);
    inst.version = static_cast<int>(rows->int64(i, 2));
    inst.state = *state;
    inst.created_at = rows->int64(i, 4);
    inst.updated_at = rows->int64(i, 5);
    inst.error = rows->str(i, 6);
    out.sagas.push_back(std::move(inst));
  }
  return out;
}

state::Result<std::vector<state::StateCount>> PostgresStore::count(const state::ListFilter& f) {
  // By name and version alone: the counts the trigger keeps. Anything finer: a scan of the
  // matching summary rows.
  const bool kept = !f.id_prefix && !f.created_from && !f.created_until;
  Where w = where_of(f, false);
  if (kept) w.add("n > 0");
  auto rows = impl_->reader.run_text(kept ? "SELECT saga, version, state, n FROM saga_counts" + w.sql
                                          : "SELECT saga, version, state, COUNT(*) FROM sagas" + w.sql +
                                                " GROUP BY saga, version, state",
                                     w.args);
  if (!rows) return state::Status{rows.error().code, "cannot count sagas: " + rows.error().message};
  std::vector<state::StateCount> out;
  for (int i = 0; i < rows->size(); ++i) {
    auto state = sagas::saga_state_from(rows->text(i, 2));
    if (!state) continue;  // list() reports such a row as unreadable
    out.push_back({rows->str(i, 0), static_cast<int>(rows->int64(i, 1)), *state,
                   static_cast<std::size_t>(rows->int64(i, 3))});
  }
  return out;
}

state::Result<std::vector<state::HistoryRow>> PostgresStore::history(const std::string& id) {
  auto rows = impl_->reader.run(
      "SELECT j.position, j.at, j.data FROM journal j JOIN sagas s ON s.num = j.saga_num WHERE s.id = $1 "
      "ORDER BY j.position",
      {id});
  if (!rows) return state::Status{rows.error().code, "cannot read the history of saga " + id + ": " + rows.error().message};
  std::vector<state::HistoryRow> out;
  for (int i = 0; i < rows->size(); ++i) {
    auto records = state::journal::decode_history(rows->text(i, 2), rows->int64(i, 1));
    if (!records) return state::corrupt_saga(id, "journal entry " + rows->str(i, 0) + ": " + records.error().message);
    out.insert(out.end(), std::make_move_iterator(records->begin()), std::make_move_iterator(records->end()));
  }
  return out;
}

state::Result<state::Backlog> PostgresStore::undelivered() {
  auto& r = impl_->reader;
  state::Backlog out;
  auto state = r.run("SELECT last, delivered FROM journal_state");
  if (!state || state->empty()) return state ? r.fail("cannot read the journal's position") : state.error();
  out.last = state->int64(0, 0);
  out.delivered = state->int64(0, 1);
  auto rows = r.run(
      "SELECT s.id, j.position, j.at, j.data, s.saga, s.version FROM journal j LEFT JOIN sagas s ON s.num = j.saga_num "
      "WHERE j.position > $1 AND j.position <= $2 ORDER BY j.position",
      {out.delivered, out.last});
  if (!rows) return state::Status{rows.error().code, "cannot read the journal: " + rows.error().message};
  for (int i = 0; i < rows->size(); ++i) {
    std::string id = rows->null(i, 0) ? std::string() : rows->str(i, 0);
    state::Position pos = rows->int64(i, 1);
    auto e = state::journal::decode(rows->text(i, 3), pos, rows->int64(i, 2));
    if (!e) {
      return state::Status{state::Errc::corrupt, "journal entry " + std::to_string(pos) + (id.empty() ? "" : " of saga " + id) + " in " +
                                       r.where() + " is damaged (" + e.error().message +
                                       "), and its messages may not have been sent; restore the database from a backup"};
    }
    if (e->history.empty() && e->sends.empty() && e->messages.empty()) continue;
    out.entries.push_back({pos, std::move(id), rows->null(i, 4) ? std::string() : rows->str(i, 4),
                           rows->null(i, 5) ? 0 : static_cast<int>(rows->int64(i, 5)), std::move(e->history),
                           std::move(e->sends), std::move(e->messages)});
  }
  return out;
}

state::Result<bool> PostgresStore::was_pruned(const std::string& id) {
  auto rows = impl_->reader.run("SELECT 1 FROM pruned WHERE saga_id = $1", {id});
  if (!rows) return state::Status{rows.error().code, "cannot look up saga " + id + ": " + rows.error().message};
  return !rows->empty();
}

state::Result<std::vector<std::string>> PostgresStore::ids_starting_with(const std::string& prefix, std::size_t limit) {
  return first_column(impl_->reader.run("SELECT id FROM sagas WHERE id LIKE $1 ORDER BY id LIMIT $2",
                                        {starts_with_pattern(prefix), static_cast<std::int64_t>(limit)}));
}

state::Result<std::size_t> PostgresStore::prune(sagas::TimeMs before, std::size_t max_sagas, sagas::TimeMs now) {
  auto& r = impl_->reader;
  auto ids = first_column(r.run(
      // created_at <= updated_at: the range on sagas_by_state_created narrows the scan.
      "SELECT id FROM sagas WHERE state IN ('completed', 'compensated', 'failed') AND created_at < $1 AND "
      "updated_at < $1 LIMIT $2",
      {before, static_cast<std::int64_t>(max_sagas)}));
  if (!ids) return ids.error();
  state::Status st = r.transaction([&]() -> state::Status {
    // The owner's row first, shared: a fenced owner deletes nothing, and since every commit
    // starts by updating that row, a commit in progress finishes before this goes on and
    // later ones wait until it is done. So the two never change the same count rows at once
    // (no deadlock between the writer's count updates and these deletions).
    auto mine = r.run("SELECT epoch, owner FROM journal_state FOR SHARE");
    if (!mine || mine->empty()) return mine ? r.fail("cannot read the journal's owner") : mine.error();
    if (mine->int64(0, 0) != impl_->epoch) return impl_->fenced(mine->int64(0, 0), mine->str(0, 1));
    // A tombstone outlives its saga by one more retention period.
    if (auto old = r.run("DELETE FROM pruned WHERE at < $1", {before}); !old) return old.error();
    if (auto sent = r.run("DELETE FROM journal WHERE saga_num = 0 AND position <= (SELECT delivered FROM journal_state)");
        !sent) {
      return sent.error();
    }
    for (const auto& id : *ids) {
      auto gone = r.run("WITH s AS (DELETE FROM sagas WHERE id = $1 RETURNING num) "
                        "DELETE FROM journal WHERE saga_num IN (SELECT num FROM s)",
                        {id});
      if (!gone) return gone.error();
      auto tomb = r.run("INSERT INTO pruned (saga_id, at) VALUES ($1, $2) ON CONFLICT (saga_id) DO UPDATE SET at = $2",
                        {id, now});
      if (!tomb) return tomb.error();
    }
    return state::Status::success();
  });
  if (!st.ok()) return st.code == state::Errc::locked ? st : state::Status{st.code, "cannot prune: " + st.message};
  return ids->size();
}

}  // namespace postgres
