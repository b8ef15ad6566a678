// `sagactl status`, `list` and `history`: read-only views of the state file, as an aligned
// table (coloured on a terminal) or as the JSON shapes of docs/sagactl.md.
#include <algorithm>
#include <filesystem>
#include <map>
#include <ostream>

#include "dsl/loader.h"
#include "engine/engine.h"
#include "wire/protocol.h"
#include "cli/commands.h"
#include "cli/printable.h"
#include "server/views.h"
#include "cli/open_store.h"
#include "postgres/store.h"

namespace cli {

namespace {

using sagas::Json;

// The orchestrator's store, read-only: a SQLite file, or a PostgreSQL database by URL.
sagas::Result<std::unique_ptr<state::Store>, std::string> open_state(const InspectOptions& o) {
  if (!postgres::is_postgres_url(o.state) && !std::filesystem::exists(o.state)) {
    return std::string("no state file at " + o.state + ": point --state at the orchestrator's file");
  }
  auto s = open_store({.state = o.state, .synchronous_full = true, .read_only = true, .owner = ""});
  if (!s) return s.error().message;
  return std::move(s).value();
}

// Definitions by (name, version), to name the steps; quietly empty when the files are gone.
std::map<std::pair<std::string, int>, sagas::DefinitionPtr> definitions(const InspectOptions& o) {
  std::vector<std::filesystem::path> paths;
  for (const auto& p : o.sagas) {
    if (std::filesystem::exists(p)) paths.emplace_back(p);
  }
  std::map<std::pair<std::string, int>, sagas::DefinitionPtr> out;
  if (paths.empty()) return out;
  for (const auto& d : dsl::load(paths).definitions) out[{d->name, d->version}] = d;
  return out;
}

const char* color_of(std::string_view state) {
  if (state == "completed" || state == "succeeded" || state == "compensated") return "\033[32m";
  if (state == "failed" || state == "compensation_failed") return "\033[31m";
  if (state == "compensating" || state == "running") return "\033[33m";
  return "";
}

// Prints rows as columns padded to the widest cell; `colored` marks columns whose cells are
// states, coloured on a terminal.
void table(std::ostream& out, std::vector<std::vector<std::string>> rows, bool color,
           const std::vector<std::size_t>& colored = {}) {
  for (auto& r : rows) {
    for (auto& cell : r) cell = printable(cell);  // errors and details are participants' text
  }
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (std::size_t n = 0; n < rows.size(); ++n) {
    const auto& r = rows[n];
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      std::string cell = r[i];
      std::string pad(i + 1 < r.size() ? width[i] - cell.size() + 2 : 0, ' ');
      bool paint = color && n > 0 && std::find(colored.begin(), colored.end(), i) != colored.end() && *color_of(cell);
      line += paint ? std::string(color_of(cell)) + cell + "\033[0m" + pad : cell + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << "\n";
  }
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }
std::string time_or_dash(sagas::TimeMs t) { return t == 0 ? "-" : wire::format_time(t); }

}  // namespace

state::Result<std::optional<std::string>> resolve_id(state::Store& store, const std::string& id) {
  constexpr std::size_t kShown = 5;  // ids named when a prefix is ambiguous
  if (id.empty()) return std::optional<std::string>();
  auto exact = store.load(id);
  if (!exact && exact.error().code != state::Errc::corrupt) return exact.error();
  if (!exact || *exact) return std::optional<std::string>(id);  // there, readable or damaged
  auto ids = store.ids_starting_with(id, kShown + 1);
  if (!ids) return ids.error();
  if (ids->empty()) return std::optional<std::string>();
  if (ids->size() == 1) return std::optional<std::string>(ids->front());
  std::string names;
  for (std::size_t i = 0; i < std::min(ids->size(), kShown); ++i) names += (i ? ", " : "") + (*ids)[i];
  return state::Status{state::Errc::not_found,
                       "the id prefix \"" + id + "\" matches more than one saga (" + names +
                           (ids->size() > kShown ? ", ..." : "") + "); give more of the id"};
}

namespace {

// The saga's status; nullopt when there is no such saga; the store's error (a damaged row
// or a failing file) otherwise.
state::Result<std::optional<engine::SagaStatus>> find(state::Store& store, const InspectOptions& o) {
  auto id = resolve_id(store, o.id);
  if (!id) return id.error();
  if (!*id) return std::optional<engine::SagaStatus>();
  auto loaded = store.load(**id);
  if (!loaded) return loaded.error();
  if (!*loaded) return std::optional<engine::SagaStatus>();
  const auto& inst = **loaded;
  auto defs = definitions(o);
  auto it = defs.find({inst.saga, inst.version});
  return std::optional<engine::SagaStatus>(engine::make_status(it == defs.end() ? nullptr : it->second.get(), inst));
}

constexpr const char* kUnreadable = "unreadable";

}  // namespace

int status_command(const InspectOptions& o, std::ostream& out, std::ostream& err) {
  auto store = open_state(o);
  if (!store) {
    err << "status: " << store.error() << "\n";
    return kExitError;
  }
  auto found = find(**store, o);
  if (!found) {
    err << "status: " << found.error().message << "\n";
    return kExitError;
  }
  auto& s = *found;
  if (!s) {
    err << "status: no saga with id \"" << o.id << "\" in " << describe_state(o.state) << " (sagactl list shows the ids)\n";
    return kExitError;
  }
  if (o.json) {
    out << server::status_json(*s).dump() << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> head = {{"id", s->id.value()},
                                                {"saga", s->saga + " v" + std::to_string(s->version)},
                                                {"state", std::string(sagas::to_string(s->state))},
                                                {"created", time_or_dash(s->created_at)},
                                                {"updated", time_or_dash(s->updated_at)}};
  if (!s->error.empty()) head.push_back({"error", s->error});
  table(out, head, false);
  if (s->steps.empty()) {
    out << "\n(steps unnamed: the definition " << s->saga << " v" << s->version << " is not under --sagas)\n";
    return kExitOk;
  }
  // ATTEMPTS counts the step's commands, UNDO its compensation's: an error about attempt 5 of
  // an undo must not sit beside "2" for the step.
  std::vector<std::vector<std::string>> rows = {{"STEP", "STATE", "ATTEMPTS", "UNDO", "STARTED", "FINISHED", "ERROR"}};
  for (const auto& st : s->steps) {
    rows.push_back({(st.group ? "  " : "") + st.name, std::string(sagas::to_string(st.state)),
                    std::to_string(st.attempts),
                    st.compensation_attempts == 0 ? "-" : std::to_string(st.compensation_attempts),
                    time_or_dash(st.started_at), time_or_dash(st.finished_at), or_dash(st.error)});
  }
  out << "\n";
  table(out, rows, o.color, {1});
  if (o.show_payloads) {
    out << "\ninput  " << s->input.dump() << "\n";
    for (const auto& st : s->steps) {
      out << st.name << "\n  request  " << (st.request ? st.request->dump() : "-") << "\n  reply    "
          << (st.reply ? st.reply->dump() : "-") << "\n";
    }
  }
  return kExitOk;
}

int list_command(const InspectOptions& o, std::ostream& out, std::ostream& err) {
  state::ListFilter f;
  if (!o.status_filter.empty()) {
    f.state = sagas::saga_state_from(o.status_filter);
    if (!f.state) {
      err << "list: --status " << o.status_filter
          << " is not a saga state; use running, completed, compensating, compensated or failed\n";
      return kExitError;
    }
  }
  if (!o.saga_filter.empty()) f.saga = o.saga_filter;
  f.limit = o.limit;
  f.offset = o.offset;
  auto store = open_state(o);
  if (!store) {
    err << "list: " << store.error() << "\n";
    return kExitError;
  }
  auto listed = (*store)->list(f);
  if (!listed) {
    err << "list: " << listed.error().message << "\n";
    return kExitError;
  }
  std::vector<engine::SagaStatus> all;
  for (const auto& inst : listed->sagas) all.push_back(engine::make_status(nullptr, inst));
  const auto& broken = listed->unreadable;
  // Damaged rows are shown, never hidden: state "unreadable", the problem as the error.
  if (o.json) {
    out << server::list_json({all, broken}).dump() << "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"ID", "SAGA", "STATE", "CREATED", "UPDATED", "ERROR"}};
    for (const auto& s : all) {
      rows.push_back({s.id.value(), s.saga + " v" + std::to_string(s.version), std::string(sagas::to_string(s.state)),
                      time_or_dash(s.created_at), time_or_dash(s.updated_at), or_dash(s.error)});
    }
    for (const auto& b : broken) rows.push_back({b.saga_id, "-", kUnreadable, "-", "-", b.problem});
    table(out, rows, o.color, {2});
    if (all.size() + broken.size() == o.limit) out << "(more may follow: --offset " << o.offset + o.limit << ")\n";
  }
  if (broken.empty()) return kExitOk;
  err << "list: " << broken.size() << " saga row(s) in " << describe_state(o.state)
      << " cannot be read (shown as unreadable); "
      << (postgres::is_postgres_url(o.state) ? "restore the database from a backup"
                                          : "restore the file from a backup, or salvage it with `sqlite3 " + o.state +
                                                " .recover`")
      << "\n";
  return kExitError;
}

int history_command(const InspectOptions& o, std::ostream& out, std::ostream& err) {
  auto store = open_state(o);
  if (!store) {
    err << "history: " << store.error() << "\n";
    return kExitError;
  }
  auto resolved = resolve_id(**store, o.id);
  if (!resolved) {
    err << "history: " << resolved.error().message << "\n";
    return kExitError;
  }
  const std::string id = resolved->value_or(o.id);
  auto loaded = (*store)->load(id);
  // A damaged saga row still has its history: show it, and say what is wrong.
  bool damaged = !loaded && loaded.error().code == state::Errc::corrupt;
  if (!loaded && !damaged) {
    err << "history: " << loaded.error().message << "\n";
    return kExitError;
  }
  if (loaded && !*loaded) {
    err << "history: no saga with id \"" << o.id << "\" in " << describe_state(o.state) << " (sagactl list shows the ids)\n";
    return kExitError;
  }
  auto rows_in = (*store)->history(id);
  if (!rows_in) {
    err << "history: " << rows_in.error().message << "\n";
    return kExitError;
  }
  if (o.json) {
    Json arr = Json::array();
    for (const auto& h : *rows_in) arr.as_array().push_back(server::history_json(h));
    out << arr.dump() << "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"AT", "EVENT", "STEP", "DETAIL"}};
    for (const auto& h : *rows_in) rows.push_back({time_or_dash(h.at), std::string(sagas::to_string(h.event)), or_dash(h.step), h.detail});
    table(out, rows, o.color);
  }
  if (!damaged) return kExitOk;
  err << "history: " << loaded.error().message << " (its state cannot be read; the history above can)\n";
  return kExitError;
}

}  // namespace cli
