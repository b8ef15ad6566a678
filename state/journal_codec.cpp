#include "state/journal_codec.h"

#include "state/codec.h"

namespace state::journal {

using sagas::Json;

namespace {

Json headers_json(const Headers& h) {
  Json arr = Json::array();
  for (const auto& [k, v] : h) arr.as_array().push_back(Json(Json::Array{Json(k), Json(v)}));
  return arr;
}

std::optional<Headers> headers_from(const Json& j) {
  if (!j.is_array()) return std::nullopt;
  Headers out;
  for (const auto& pair : j.as_array()) {
    if (!pair.is_array() || pair.as_array().size() != 2 || !pair.as_array()[0].is_string() ||
        !pair.as_array()[1].is_string()) {
      return std::nullopt;
    }
    out.emplace_back(pair.as_array()[0].as_string(), pair.as_array()[1].as_string());
  }
  return out;
}

bool is_string(const Json::Array& a, std::size_t i) { return i < a.size() && a[i].is_string(); }
bool is_integer(const Json::Array& a, std::size_t i) { return i < a.size() && a[i].is_integer(); }

sagas::Result<std::vector<HistoryRow>> history_from(const Json& j, TimeMs at) {
  std::vector<HistoryRow> out;
  if (!j.is_array()) return sagas::Error{"its history is not an array"};
  for (const auto& r : j.as_array()) {
    if (!r.is_array() || !is_string(r.as_array(), 0) || !is_string(r.as_array(), 1) || !is_string(r.as_array(), 2)) {
      return sagas::Error{"a history record is not [event, step, detail]"};
    }
    const auto& a = r.as_array();
    auto event = sagas::event_type_from(a[0].as_string());
    if (!event) return sagas::Error{"a history record has the unknown event \"" + a[0].as_string() + "\""};
    TimeMs when = is_integer(a, 3) ? a[3].as_integer() : at;
    out.push_back({when, *event, a[1].as_string(), a[2].as_string()});
  }
  return out;
}

sagas::Result<std::vector<sagas::SendCommand>> sends_from(const Json& j) {
  std::vector<sagas::SendCommand> out;
  if (!j.is_array()) return sagas::Error{"its commands are not an array"};
  for (const auto& s : j.as_array()) {
    if (!s.is_array() || !is_integer(s.as_array(), 0) || !is_string(s.as_array(), 1) || !is_integer(s.as_array(), 2)) {
      return sagas::Error{"a command is not [step, kind, attempt]"};
    }
    const auto& a = s.as_array();
    auto kind = sagas::command_kind_from(a[1].as_string());
    if (!kind || a[0].as_integer() < 0 || a[2].as_integer() <= 0) return sagas::Error{"a command is damaged"};
    sagas::SendCommand cmd;
    cmd.step = sagas::StepIndex(static_cast<std::size_t>(a[0].as_integer()));
    cmd.kind = *kind;
    cmd.attempt = sagas::Attempt(static_cast<std::uint32_t>(a[2].as_integer()));
    if (a.size() > 3) cmd.payload = a[3];
    out.push_back(std::move(cmd));
  }
  return out;
}

sagas::Result<std::vector<OutboxMessage>> messages_from(const Json& j) {
  std::vector<OutboxMessage> out;
  if (!j.is_array()) return sagas::Error{"its messages are not an array"};
  for (const auto& m : j.as_array()) {
    const auto* a = m.is_array() ? &m.as_array() : nullptr;
    std::optional<Headers> headers = a != nullptr && a->size() == 4 ? headers_from((*a)[2]) : std::nullopt;
    if (!headers || !is_string(*a, 0) || !is_string(*a, 1) || !is_string(*a, 3)) {
      return sagas::Error{"a message is not [topic, key, headers, value]"};
    }
    out.push_back({(*a)[0].as_string(), (*a)[1].as_string(), std::move(*headers), (*a)[3].as_string()});
  }
  return out;
}

// The instance's header as a delta patches it (defaults left out, as codec.h writes them).
Json header_json(const sagas::Instance& inst) {
  Json j = Json::object();
  j.set("state", std::string(sagas::to_string(inst.state)));
  if (inst.stage != 0) j.set("stage", static_cast<std::int64_t>(inst.stage));
  if (!inst.error.empty()) j.set("error", inst.error);
  if (inst.deadline_at) j.set("deadline_at", *inst.deadline_at);
  return j;
}

// The members of `to` that differ from `from`, and null for those `to` no longer has. Values
// compare as JSON (kinds first, so 1 and 1.0 differ).
Json diff(const Json& from, const Json& to) {
  Json patch = Json::object();
  for (const auto& [k, v] : to.as_object()) {
    const Json* old = from.find(k);
    if (old == nullptr || old->kind() != v.kind() || !(*old == v)) patch.as_object().emplace_back(k, v);
  }
  for (const auto& [k, v] : from.as_object()) {
    if (to.find(k) == nullptr) patch.as_object().emplace_back(k, Json());
  }
  return patch;
}

// How an entry stores the JSON of codec.h, in two ways that make it several times smaller
// and nothing else:
//   - times are relative to the entry's own time: most are that very moment (a step started
//     or finished) or a timeout after it, a few digits instead of thirteen;
//   - field names are short (the table below; names not in it are kept).
struct Field {
  const char* name;
  const char* stored;
  bool time;
};
constexpr Field kStepFields[] = {
    {"state", "s", false},         {"attempts", "a", false},        {"compensation_attempts", "ca", false},
    {"compensation_budget_from", "cb", false}, {"outcome_unknown", "ou", false}, {"compensation_gave_up", "cg", false},
    {"request", "rq", false},      {"reply", "rp", false},          {"error", "e", false},
    {"started_at", "t0", true},    {"finished_at", "t1", true},     {"timer_at", "tt", true},
    {"timer_kind", "tk", false},   {"timer_for", "tf", false},
};
constexpr Field kInstanceFields[] = {
    {"id", "id", false},        {"saga", "n", false},        {"version", "v", false},   {"state", "s", false},
    {"input", "in", false},     {"steps", "st", false},      {"stage", "sg", false},    {"error", "e", false},
    {"created_at", "c", true},  {"updated_at", "u", true},   {"deadline_at", "d", true},
};

enum class Direction { store, load };

template <std::size_t N>
void convert(Json& obj, const Field (&fields)[N], TimeMs at, Direction dir) {
  if (!obj.is_object()) return;
  for (auto& [key, value] : obj.as_object()) {
    for (const Field& f : fields) {
      if (key != (dir == Direction::store ? f.name : f.stored)) continue;
      key = dir == Direction::store ? f.stored : f.name;
      if (f.time && value.is_integer()) value = Json(value.as_integer() + (dir == Direction::store ? -at : at));
      break;
    }
  }
}

void convert_instance(Json& inst, TimeMs at, Direction dir) {
  convert(inst, kInstanceFields, at, dir);
  if (Json* steps = inst.find(dir == Direction::store ? "st" : "steps"); steps != nullptr && steps->is_array()) {
    for (auto& st : steps->as_array()) convert(st, kStepFields, at, dir);
  }
}

void merge(Json& target, const Json& patch) {
  auto& members = target.as_object();
  for (const auto& member : patch.as_object()) {
    const auto& [k, v] = member;
    if (v.is_null()) {
      std::erase_if(members, [&](const Json::Member& m) { return m.first == member.first; });
    } else {
      target.set(k, v);
    }
  }
}


}  // namespace

namespace {

// The history, commands and messages of an entry.
void add_messages(Json& j, const Commit& c) {
  TimeMs at = c.instance.updated_at;
  if (!c.history.empty()) {
    Json h = Json::array();
    for (const auto& r : c.history) {
      Json::Array row{Json(std::string(sagas::to_string(r.event))), Json(r.step), Json(r.detail)};
      if (r.at != at) row.emplace_back(r.at);
      h.as_array().emplace_back(std::move(row));
    }
    j.set("history", std::move(h));
  }
  if (!c.sends.empty()) {
    Json s = Json::array();
    for (const auto& cmd : c.sends) {
      Json::Array row{Json(static_cast<std::int64_t>(cmd.step.value())), Json(std::string(sagas::to_string(cmd.kind))),
                      Json(static_cast<std::int64_t>(cmd.attempt.value()))};
      // An execute command's payload is its step's request, which the entry (or one before
      // it) already holds: written once, not twice.
      if (cmd.kind == sagas::CommandKind::compensate) row.push_back(cmd.payload);
      s.as_array().emplace_back(std::move(row));
    }
    j.set("sends", std::move(s));
  }
  if (!c.messages.empty()) {
    Json m = Json::array();
    for (const auto& msg : c.messages) {
      m.as_array().emplace_back(Json::Array{Json(msg.topic), Json(msg.key), headers_json(msg.headers), Json(msg.value)});
    }
    j.set("messages", std::move(m));
  }
}

}  // namespace

std::string encode_snapshot(const Commit& c, Written& written) {
  Json j = Json::object();
  Json snapshot = to_json(c.instance);
  convert_instance(snapshot, c.instance.updated_at, Direction::store);
  j.set("snapshot", std::move(snapshot));
  written.header = header_json(c.instance);
  written.steps.clear();
  for (const auto& step : c.instance.steps) written.steps.push_back(to_json(step));
  add_messages(j, c);
  return j.dump();
}

std::string encode_delta(const Commit& c, Written& written) {
  const auto& inst = c.instance;
  Json j = Json::object();
  Json header = header_json(inst);
  Json header_patch = diff(written.header, header);
  convert(header_patch, kInstanceFields, inst.updated_at, Direction::store);
  j.set("patch", std::move(header_patch));
  written.header = std::move(header);
  Json steps = Json::array();
  for (std::size_t i = 0; i < inst.steps.size() && i < written.steps.size(); ++i) {
    if (i < c.steps_changed.size() && !c.steps_changed[i]) continue;
    Json now = to_json(inst.steps[i]);
    Json patch = diff(written.steps[i], now);
    written.steps[i] = std::move(now);
    if (patch.as_object().empty()) continue;
    convert(patch, kStepFields, inst.updated_at, Direction::store);
    steps.as_array().push_back(Json(Json::Array{Json(static_cast<std::int64_t>(i)), std::move(patch)}));
  }
  if (!steps.as_array().empty()) j.set("steps", std::move(steps));
  add_messages(j, c);
  return j.dump();
}

std::string encode_messages(const Commit& c) {
  Json j = Json::object();
  add_messages(j, c);
  return j.dump();
}

sagas::Result<Entry> decode(std::string_view data, Position position, TimeMs at, Parts parts) {
  auto parsed = Json::parse(data);
  if (!parsed) return sagas::Error{"a journal entry is not JSON (" + parsed.error().message + ")"};
  Json& j = *parsed;  // its parts are moved out, not copied
  if (!j.is_object()) return sagas::Error{"a journal entry is not a JSON object"};
  if (const Json* damaged = j.find("damaged"); damaged != nullptr && damaged->is_string()) {
    return sagas::Error{"its rows were damaged " + damaged->as_string()};
  }
  Entry e;
  e.position = position;
  e.at = at;
  if (Json* snap = j.find("snapshot")) {
    if (!snap->is_object()) return sagas::Error{"its snapshot is not an object"};
    e.snapshot = std::move(*snap);
    convert_instance(*e.snapshot, at, Direction::load);
  } else if (Json* patch = j.find("patch")) {
    if (!patch->is_object()) return sagas::Error{"its patch is not an object"};
    e.header_patch = std::move(*patch);
    convert(*e.header_patch, kInstanceFields, at, Direction::load);
    if (Json* steps = j.find("steps")) {
      if (!steps->is_array()) return sagas::Error{"its steps are not an array"};
      for (auto& s : steps->as_array()) {
        if (!s.is_array() || s.as_array().size() != 2 || !s.as_array()[0].is_integer() ||
            s.as_array()[0].as_integer() < 0 || !s.as_array()[1].is_object()) {
          return sagas::Error{"a step of a journal entry is not [index, patch]"};
        }
        Json step_patch = std::move(s.as_array()[1]);
        convert(step_patch, kStepFields, at, Direction::load);
        e.step_patches.emplace_back(static_cast<std::size_t>(s.as_array()[0].as_integer()), std::move(step_patch));
      }
    }
  }
  if (parts == Parts::state) return e;
  if (const Json* h = j.find("history")) {
    auto rows = history_from(*h, at);
    if (!rows) return rows.error();
    e.history = std::move(rows).value();
  }
  if (const Json* s = j.find("sends")) {
    auto sends = sends_from(*s);
    if (!sends) return sends.error();
    e.sends = std::move(sends).value();
  }
  if (const Json* m = j.find("messages")) {
    auto msgs = messages_from(*m);
    if (!msgs) return msgs.error();
    e.messages = std::move(msgs).value();
  }
  return e;
}

sagas::Result<std::vector<HistoryRow>> decode_history(std::string_view data, TimeMs at) {
  auto parsed = Json::parse(data);
  if (!parsed) return sagas::Error{"a journal entry is not JSON (" + parsed.error().message + ")"};
  if (!parsed->is_object()) return sagas::Error{"a journal entry is not a JSON object"};
  const Json* h = parsed->find("history");
  if (h == nullptr) return std::vector<HistoryRow>{};
  return history_from(*h, at);
}

namespace {

// Applies a delta entry to the instance's JSON before it; nullopt, or what does not fit.
std::optional<std::string> apply(Json& inst, const Entry& delta) {
  if (!delta.header_patch) return std::nullopt;  // an entry without saga state changes nothing
  merge(inst, *delta.header_patch);
  inst.set("updated_at", delta.at);
  Json* steps = inst.find("steps");
  for (const auto& [i, patch] : delta.step_patches) {
    if (steps == nullptr || !steps->is_array() || i >= steps->as_array().size() || !steps->as_array()[i].is_object()) {
      return "journal entry " + std::to_string(delta.position) + " changes step " + std::to_string(i) +
             ", which the saga does not have";
    }
    merge(steps->as_array()[i], patch);
  }
  return std::nullopt;
}

}  // namespace

// The deltas are applied to the snapshot's JSON and the instance is read once, at the end:
// reading a saga costs one parse of each entry, not a conversion per entry.
sagas::Result<std::optional<sagas::Instance>> fold(std::vector<Entry> entries) {
  if (entries.empty()) return std::optional<sagas::Instance>();
  std::size_t first = entries.size();
  for (std::size_t i = entries.size(); i-- > 0;) {
    if (entries[i].snapshot) {
      first = i;
      break;
    }
  }
  if (first == entries.size()) return sagas::Error{"its journal has no snapshot to start from"};
  Json inst = std::move(*entries[first].snapshot);
  for (std::size_t i = first + 1; i < entries.size(); ++i) {
    if (auto bad = apply(inst, entries[i])) return sagas::Error{*bad};
  }
  auto read = instance_from_json(std::move(inst));
  if (!read) {
    return sagas::Error{"its state (the snapshot at journal entry " + std::to_string(entries[first].position) +
                        " and the entries after it) is damaged: " + read.error().message};
  }
  return std::optional<sagas::Instance>(std::move(read).value());
}

}  // namespace state::journal
