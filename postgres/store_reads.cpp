// PostgresStore's reads, on the reader connection: sagas folded from their journal entries,
// lists and counts by filter, history, the undelivered backlog.
#include "postgres/session.h"
#include "postgres/store_impl.h"

namespace postgres {

namespace {

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

}  // namespace

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
  Session session(impl_->reader);
  return state::sql::undelivered(session);
}

state::Result<bool> PostgresStore::was_pruned(const std::string& id) {
  Session session(impl_->reader);
  return state::sql::was_pruned(session, id);
}

state::Result<std::vector<std::string>> PostgresStore::ids_starting_with(const std::string& prefix, std::size_t limit) {
  return first_column(impl_->reader.run("SELECT id FROM sagas WHERE id LIKE $1 ORDER BY id LIMIT $2",
                                        {starts_with_pattern(prefix), static_cast<std::int64_t>(limit)}));
}

}  // namespace postgres
