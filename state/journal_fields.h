// The journal's short field names (internal to state/): how an entry stores the JSON of
// codec.h, several times smaller and nothing else. Times are relative to the entry's own
// time (most are that very moment or a timeout after it: a few digits instead of thirteen),
// and names are short. The encoder (journal_encode.cpp) writes these names; the decoder
// (journal_codec.cpp) maps them back.
#pragma once

#include <cstddef>

#include "sagas/instance.h"
#include "sagas/json.h"

namespace state::journal {

struct Field {
  const char* name;    // as codec.h writes it
  const char* stored;  // as the journal stores it
  bool time;           // milliseconds since the epoch, stored relative to the entry's time
};

// Indexes into kStepFields, in its order.
enum StepField : std::size_t {
  kStepState, kAttempts, kCompensationAttempts, kCompensationBudgetFrom, kOutcomeUnknown, kCompensationGaveUp,
  kRequest, kReply, kStepError, kStartedAt, kFinishedAt, kTimerAt, kTimerKind, kTimerFor,
};
inline constexpr Field kStepFields[] = {
    {"state", "s", false},         {"attempts", "a", false},        {"compensation_attempts", "ca", false},
    {"compensation_budget_from", "cb", false}, {"outcome_unknown", "ou", false}, {"compensation_gave_up", "cg", false},
    {"request", "rq", false},      {"reply", "rp", false},          {"error", "e", false},
    {"started_at", "t0", true},    {"finished_at", "t1", true},     {"timer_at", "tt", true},
    {"timer_kind", "tk", false},   {"timer_for", "tf", false},
};

// Indexes into kInstanceFields, in its order.
enum InstanceField : std::size_t {
  kId, kSaga, kVersion, kSagaState, kInput, kSteps, kStage, kSagaError, kCreatedAt, kUpdatedAt, kDeadlineAt,
};
inline constexpr Field kInstanceFields[] = {
    {"id", "id", false},        {"saga", "n", false},        {"version", "v", false},   {"state", "s", false},
    {"input", "in", false},     {"steps", "st", false},      {"stage", "sg", false},    {"error", "e", false},
    {"created_at", "c", true},  {"updated_at", "u", true},   {"deadline_at", "d", true},
};

enum class Direction { store, load };

// Renames the members of `obj` found in `fields` (and shifts their times) one way or back.
template <std::size_t N>
void convert(sagas::Json& obj, const Field (&fields)[N], sagas::TimeMs at, Direction dir) {
  if (!obj.is_object()) return;
  for (auto& [key, value] : obj.as_object()) {
    for (const Field& f : fields) {
      if (key != (dir == Direction::store ? f.name : f.stored)) continue;
      key = dir == Direction::store ? f.stored : f.name;
      if (f.time && value.is_integer()) value = sagas::Json(value.as_integer() + (dir == Direction::store ? -at : at));
      break;
    }
  }
}

// The same for a whole instance and its steps.
inline void convert_instance(sagas::Json& inst, sagas::TimeMs at, Direction dir) {
  convert(inst, kInstanceFields, at, dir);
  if (sagas::Json* steps = inst.find(dir == Direction::store ? "st" : "steps"); steps != nullptr && steps->is_array()) {
    for (auto& st : steps->as_array()) convert(st, kStepFields, at, dir);
  }
}

}  // namespace state::journal
