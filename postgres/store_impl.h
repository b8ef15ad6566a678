// PostgresStore's state and its opening, fencing and writing (internal to postgres/): shared
// by store.cpp (open, commit, prune) and store_reads.cpp (the reads).
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "postgres/conn.h"
#include "postgres/schema.h"
#include "postgres/store.h"
#include "state/journal_codec.h"
#include "state/journal_writer.h"
#include "state/store_common.h"

namespace postgres {

// The first column of every row, as text.
inline state::Result<std::vector<std::string>> first_column(state::Result<Rows> rows) {
  if (!rows) return rows.error();
  std::vector<std::string> out;
  for (int i = 0; i < rows->size(); ++i) out.push_back(rows->str(i, 0));
  return out;
}

struct PostgresStore::Impl {
  Conn reader;  // the owner's thread: reads
  Conn writer;  // commit(), possibly on a thread of its own; unused when read-only
  std::string url;         // for a reader handle's connection
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
      if (auto locked = writer.run("SELECT pg_advisory_xact_lock($1)", {schema::kOwnerLock + 1}); !locked) return locked.error();
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
        if (state::Status st = writer.exec(schema::kCreate); !st.ok()) return st;
      }
      auto version = writer.run("SELECT version FROM sagactl_schema");
      if (!version) return version.error();
      std::int64_t v = version->empty() ? 0 : version->int64(0, 0);
      if (v >= 1 && v < kSchemaVersion) {
        for (; v < kSchemaVersion; ++v) {
          if (state::Status st = writer.exec(schema::migrations()[v - 1]); !st.ok()) return st;
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
    auto got = writer.run("SELECT pg_advisory_lock($1)", {schema::kOwnerLock}, &diag);
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
      auto got = writer.run("SELECT pg_try_advisory_lock($1)", {schema::kOwnerLock});
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
    if (diag.sqlstate == schema::kFenced) {
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

}  // namespace postgres
