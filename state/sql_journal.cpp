#include "state/sql_journal.h"

#include <charconv>

#include "state/journal_codec.h"

namespace state::sql {

std::int64_t Rows::int64(std::size_t r, std::size_t c) const {
  const Value& v = rows[r][c];
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  const auto* t = std::get_if<std::string>(&v);
  std::int64_t out = 0;
  if (t != nullptr) std::from_chars(t->data(), t->data() + t->size(), out);
  return out;
}

std::string Rows::text(std::size_t r, std::size_t c) const {
  const Value& v = rows[r][c];
  if (const auto* t = std::get_if<std::string>(&v)) return *t;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return {};
}

Result<Backlog> undelivered(Session& s) {
  Backlog out;
  auto position = s.run("SELECT last, delivered FROM journal_state", {}, "cannot read the journal's position");
  if (!position) return position.error();
  if (position->size() == 0) return Status{Errc::corrupt, "the journal's position is missing in " + s.where()};
  out.last = position->int64(0, 0);
  out.delivered = position->int64(0, 1);
  auto rows = s.run(
      "SELECT s.id, j.position, j.at, j.data, s.saga, s.version FROM journal j LEFT JOIN sagas s ON s.num = j.saga_num "
      "WHERE j.position > $1 AND j.position <= $2 ORDER BY j.position",
      {out.delivered, out.last}, "cannot read the journal");
  if (!rows) return rows.error();
  for (std::size_t i = 0; i < rows->size(); ++i) {
    std::string id = rows->text(i, 0);
    Position pos = rows->int64(i, 1);
    auto e = journal::decode(rows->text(i, 3), pos, rows->int64(i, 2));
    if (!e) {
      return Status{Errc::corrupt, "journal entry " + std::to_string(pos) + (id.empty() ? "" : " of saga " + id) +
                                       " in " + s.where() + " is damaged (" + e.error().message +
                                       "), and its messages may not have been sent; restore the " +
                                       std::string(s.kind()) + " from a backup"};
    }
    if (e->history.empty() && e->sends.empty() && e->messages.empty()) continue;
    out.entries.push_back({pos, std::move(id), rows->text(i, 4), static_cast<int>(rows->int64(i, 5)),
                           std::move(e->history), std::move(e->sends), std::move(e->messages)});
  }
  return out;
}

Result<std::size_t> prune(Session& s, TimeMs before, std::size_t max_sagas, TimeMs now,
                          const std::function<Status()>& first) {
  constexpr std::string_view kWhat = "cannot prune";
  auto found = s.run(
      // created_at <= updated_at: the range on sagas_by_state_created narrows the scan.
      "SELECT id FROM sagas WHERE state IN ('completed', 'compensated', 'failed') AND created_at < $1 AND "
      "updated_at < $1 LIMIT $2",
      {before, static_cast<std::int64_t>(max_sagas)}, "cannot look for sagas to prune");
  if (!found) return found.error();
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < found->size(); ++i) ids.push_back(found->text(i, 0));
  Status st = s.transaction([&]() -> Status {
    if (first) {
      if (Status refused = first(); !refused.ok()) return refused;
    }
    // A tombstone outlives its saga by one more retention period.
    if (auto old = s.run("DELETE FROM pruned WHERE at < $1", {before}, kWhat); !old) return old.error();
    if (auto sent = s.run("DELETE FROM journal WHERE saga_num = 0 AND position <= (SELECT delivered FROM journal_state)",
                          {}, kWhat);
        !sent) {
      return sent.error();
    }
    for (const auto& id : ids) {
      for (const char* sql : {"DELETE FROM journal WHERE saga_num = (SELECT num FROM sagas WHERE id = $1)",
                              "DELETE FROM sagas WHERE id = $1"}) {
        if (auto gone = s.run(sql, {id}, kWhat); !gone) return gone.error();
      }
      auto tomb = s.run("INSERT INTO pruned (saga_id, at) VALUES ($1, $2) ON CONFLICT (saga_id) DO UPDATE SET at = $2",
                        {id, now}, kWhat);
      if (!tomb) return tomb.error();
    }
    return Status::success();
  });
  if (!st.ok()) return st;
  return ids.size();
}

Result<bool> was_pruned(Session& s, const std::string& id) {
  auto rows = s.run("SELECT 1 FROM pruned WHERE saga_id = $1", {id}, "cannot look up saga " + id);
  if (!rows) return rows.error();
  return rows->size() > 0;
}

}  // namespace state::sql
