// The views of the state file that read summaries and history, not whole sagas: the lists,
// the counts and a saga's history (sqlite_views.h).
#include "state/sqlite_views.h"

#include <variant>
#include <vector>

#include "state/journal_codec.h"
#include "state/store_common.h"

namespace state::sqlite {

namespace {

// A filter as SQL: only the conditions present, so the planner sees plain ranges on the
// indexes (sagas_by_created, sagas_by_state, the id's unique index).
struct Where {
  std::string sql;
  std::vector<std::variant<std::string, std::int64_t>> args;

  void add(const char* condition) { sql += (sql.empty() ? " WHERE " : " AND ") + std::string(condition); }
  void bind(sqlite3_stmt* s) const {
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::visit([&](const auto& v) { bind_arg(s, static_cast<int>(i + 1), v); }, args[i]);
    }
  }
};

Where where_of(const ListFilter& f, bool listing) {
  Where w;
  if (listing && f.state) {
    w.add("state = ?");
    w.args.emplace_back(std::string(sagas::to_string(*f.state)));
  }
  if (f.saga) {
    w.add("saga = ?");
    w.args.emplace_back(*f.saga);
  }
  if (f.version) {
    w.add("version = ?");
    w.args.emplace_back(static_cast<std::int64_t>(*f.version));
  }
  if (f.id_prefix && !f.id_prefix->empty()) {
    w.add("id >= ? AND id < ?");
    w.args.emplace_back(*f.id_prefix);
    w.args.emplace_back(*f.id_prefix + kAboveAnyText);
  }
  if (f.created_from) {
    w.add("created_at >= ?");
    w.args.emplace_back(static_cast<std::int64_t>(*f.created_from));
  }
  if (f.created_until) {
    w.add("created_at < ?");
    w.args.emplace_back(static_cast<std::int64_t>(*f.created_until));
  }
  if (listing && f.after) {
    w.add("created_at <= ? AND (created_at < ? OR id > ?)");
    w.args.emplace_back(static_cast<std::int64_t>(f.after->created_at));
    w.args.emplace_back(static_cast<std::int64_t>(f.after->created_at));
    w.args.emplace_back(f.after->id);
  }
  return w;
}

}  // namespace

Result<Listed> list_summaries(Conn& r, const ListFilter& f) {
  Where w = where_of(f, true);
  sqlite::Query s = r.stmt_text("SELECT id, saga, version, state, created_at, updated_at, error FROM sagas" + w.sql +
                                " ORDER BY created_at DESC, id LIMIT ? OFFSET ?");
  if (s == nullptr) return r.fail("cannot list sagas");
  w.bind(s);
  bind_arg(s, static_cast<int>(w.args.size() + 1), static_cast<std::int64_t>(f.limit));
  bind_arg(s, static_cast<int>(w.args.size() + 2), static_cast<std::int64_t>(f.offset));
  Listed out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    sagas::Instance inst;
    inst.id = col_text(s, 0);
    auto state = sagas::saga_state_from(text_of(s, 3));
    if (!state) {
      out.unreadable.push_back(unknown_state(inst.id, col_text(s, 3)));
      continue;
    }
    inst.saga = col_text(s, 1);
    inst.version = static_cast<int>(sqlite3_column_int64(s, 2));
    inst.state = *state;
    inst.created_at = sqlite3_column_int64(s, 4);
    inst.updated_at = sqlite3_column_int64(s, 5);
    inst.error = col_text(s, 6);
    out.sagas.push_back(std::move(inst));
  }
  if (rc != SQLITE_DONE) return r.fail("cannot list sagas");
  return out;
}

Result<std::vector<StateCount>> count_summaries(Conn& r, const ListFilter& f) {
  // By name and version alone: the counts the triggers keep. Anything finer: a scan of the
  // matching summary rows.
  const bool kept = !f.id_prefix && !f.created_from && !f.created_until;
  Where w = where_of(f, false);
  if (kept) w.add("n > 0");
  sqlite::Query s = r.stmt_text(kept ? "SELECT saga, version, state, n FROM saga_counts" + w.sql
                                     : "SELECT saga, version, state, COUNT(*) FROM sagas" + w.sql +
                                           " GROUP BY saga, version, state");
  if (s == nullptr) return r.fail("cannot count sagas");
  w.bind(s);
  std::vector<StateCount> out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto state = sagas::saga_state_from(text_of(s, 2));
    if (!state) continue;  // list() reports such a row as unreadable
    out.push_back({col_text(s, 0), static_cast<int>(sqlite3_column_int64(s, 1)), *state,
                   static_cast<std::size_t>(sqlite3_column_int64(s, 3))});
  }
  if (rc != SQLITE_DONE) return r.fail("cannot count sagas");
  return out;
}

Result<std::vector<HistoryRow>> read_history(Conn& r, const std::string& id) {
  std::vector<HistoryRow> out;
  sqlite::Query s = r.stmt(
      "SELECT position, at, data FROM journal WHERE saga_num = (SELECT num FROM sagas WHERE id = ?) ORDER BY position");
  if (s == nullptr) return r.fail("cannot read the history of saga " + id);
  bind_arg(s, 1, id);
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto rows = journal::decode_history(col_text(s, 2), sqlite3_column_int64(s, 1));
    if (!rows) {
      return corrupt_saga(id, "journal entry " + std::to_string(sqlite3_column_int64(s, 0)) + ": " + rows.error().message);
    }
    out.insert(out.end(), std::make_move_iterator(rows->begin()), std::make_move_iterator(rows->end()));
  }
  if (rc != SQLITE_DONE) return r.fail("cannot read the history of saga " + id);
  return out;
}

}  // namespace state::sqlite
