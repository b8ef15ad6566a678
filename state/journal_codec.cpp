#include "state/journal_codec.h"

#include "state/codec.h"
#include "state/journal_fields.h"

namespace state::journal {

using sagas::Json;

namespace {

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
