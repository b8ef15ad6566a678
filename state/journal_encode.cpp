// Journal entries as text (journal_codec.h), written straight from the typed commit. A
// delta's patch holds each field that differs from what was written before (null for a field
// back at its default, which codec.h leaves out), so the writer never builds a JSON tree of
// a step or diffs two. A snapshot is codec.h's JSON of the instance (its fields, the same
// defaults left out), written the same way.
#include <charconv>

#include "state/journal_codec.h"
#include "state/journal_fields.h"

namespace state::journal {

namespace {

using sagas::Json;
using sagas::StepRecord;

// Room for a typical delta (a step's state, times and a command: ~200 bytes), so its text
// is allocated once rather than grown.
constexpr std::size_t kDeltaReserve = 384;
// And for a snapshot of a small saga (its input and a few steps).
constexpr std::size_t kSnapshotReserve = 1024;

// The members of one JSON object, each preceded by a comma but the first.
class Members {
 public:
  explicit Members(std::string& out) : out_(out) {}
  // Starts the member `stored` (a journal name: nothing to escape).
  std::string& key(const char* stored) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += stored;
    out_ += "\":";
    return out_;
  }
  bool empty() const { return first_; }

 private:
  std::string& out_;
  bool first_ = true;
};

void append_integer(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_quoted(std::string& out, std::string_view s) { sagas::append_json_string(out, s); }

// One field of a delta: when `now` differs from `was`, writes it (or null when `now` is the
// default, which codec.h leaves out) and brings `was` up to date.
template <typename T, typename Write>
void field(Members& m, const char* stored, T& was, const T& now, const T& fallback, Write write) {
  if (was == now) return;
  std::string& out = m.key(stored);
  if (now == fallback) {
    out += "null";
  } else {
    write(out, now);
  }
  was = now;
}

// JSON values differ when their kinds do (1 and 1.0 differ), as the decoder's merge sees it.
bool same_json(const sagas::SharedJson& a, const sagas::SharedJson& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->kind() == b->kind() && a == b);
}

void write_step_patch(Members& m, StepRecord& was, const StepRecord& now, sagas::TimeMs at) {
  auto integer = [](std::string& out, std::uint32_t v) { append_integer(out, v); };
  auto boolean = [](std::string& out, bool v) { out += v ? "true" : "false"; };
  auto time = [at](std::string& out, sagas::TimeMs v) { append_integer(out, v - at); };
  const auto& f = kStepFields;
  if (was.state != now.state) {
    append_quoted(m.key(f[kStepState].stored), sagas::to_string(now.state));
    was.state = now.state;
  }
  field(m, f[kAttempts].stored, was.attempts, now.attempts, 0u, integer);
  field(m, f[kCompensationAttempts].stored, was.compensation_attempts, now.compensation_attempts, 0u, integer);
  field(m, f[kCompensationBudgetFrom].stored, was.compensation_budget_from, now.compensation_budget_from, 0u, integer);
  field(m, f[kOutcomeUnknown].stored, was.outcome_unknown, now.outcome_unknown, false, boolean);
  field(m, f[kCompensationGaveUp].stored, was.compensation_gave_up, now.compensation_gave_up, false, boolean);
  for (auto [index, was_value, now_value] : {std::tuple{kRequest, &was.request, &now.request},
                                             std::tuple{kReply, &was.reply, &now.reply}}) {
    if (same_json(*was_value, *now_value)) continue;
    std::string& out = m.key(f[index].stored);
    if (*now_value) {
      (*now_value)->dump_to(out);
    } else {
      out += "null";
    }
    *was_value = *now_value;
  }
  field(m, f[kStepError].stored, was.error, now.error, std::string(),
        [](std::string& out, const std::string& v) { append_quoted(out, v); });
  field(m, f[kStartedAt].stored, was.started_at, now.started_at, sagas::TimeMs{0}, time);
  field(m, f[kFinishedAt].stored, was.finished_at, now.finished_at, sagas::TimeMs{0}, time);
  field(m, f[kTimerAt].stored, was.timer_at, now.timer_at, std::optional<sagas::TimeMs>(),
        [at](std::string& out, const std::optional<sagas::TimeMs>& v) { append_integer(out, *v - at); });
  field(m, f[kTimerKind].stored, was.timer_kind, now.timer_kind, sagas::TimerKind::attempt_timeout,
        [](std::string& out, sagas::TimerKind v) { append_quoted(out, sagas::to_string(v)); });
  field(m, f[kTimerFor].stored, was.timer_for, now.timer_for, sagas::CommandKind::execute,
        [](std::string& out, sagas::CommandKind v) { append_quoted(out, sagas::to_string(v)); });
}

void write_header_patch(std::string& out, Written& was, const sagas::Instance& now) {
  Members m(out);
  out += '{';
  const auto& f = kInstanceFields;
  if (was.state != now.state) {
    append_quoted(m.key(f[kSagaState].stored), sagas::to_string(now.state));
    was.state = now.state;
  }
  field(m, f[kStage].stored, was.stage, now.stage, std::size_t{0},
        [](std::string& o, std::size_t v) { append_integer(o, static_cast<std::int64_t>(v)); });
  field(m, f[kSagaError].stored, was.error, now.error, std::string(),
        [](std::string& o, const std::string& v) { append_quoted(o, v); });
  field(m, f[kDeadlineAt].stored, was.deadline_at, now.deadline_at, std::optional<sagas::TimeMs>(),
        [at = now.updated_at](std::string& o, const std::optional<sagas::TimeMs>& v) { append_integer(o, *v - at); });
  out += '}';
}

// Each record: [event, step, detail(, at when not the entry's)].
void write_history(std::string& out, const Commit& c) {
  const sagas::TimeMs at = c.instance.updated_at;
  for (std::size_t i = 0; i < c.history.size(); ++i) {
    const auto& r = c.history[i];
    if (i != 0) out += ',';
    out += '[';
    append_quoted(out, sagas::to_string(r.event));
    out += ',';
    append_quoted(out, r.step);
    out += ',';
    append_quoted(out, r.detail);
    if (r.at != at) {
      out += ',';
      append_integer(out, r.at);
    }
    out += ']';
  }
}

// Each command: [step, kind, attempt(, payload of a compensation)].
void write_sends(std::string& out, const Commit& c) {
  for (std::size_t i = 0; i < c.sends.size(); ++i) {
    const auto& cmd = c.sends[i];
    if (i != 0) out += ',';
    out += '[';
    append_integer(out, static_cast<std::int64_t>(cmd.step.value()));
    out += ',';
    append_quoted(out, sagas::to_string(cmd.kind));
    out += ',';
    append_integer(out, cmd.attempt.value());
    // An execute command's payload is its step's request, which the entry (or one before
    // it) already holds: written once, not twice.
    if (cmd.kind == sagas::CommandKind::compensate) {
      out += ',';
      cmd.payload.value_or_null().dump_to(out);
    }
    out += ']';
  }
}

// Each message verbatim: [topic, key, [[header, value]...], value].
void write_verbatim(std::string& out, const Commit& c) {
  for (std::size_t i = 0; i < c.messages.size(); ++i) {
    const auto& msg = c.messages[i];
    if (i != 0) out += ',';
    out += '[';
    append_quoted(out, msg.topic);
    out += ',';
    append_quoted(out, msg.key);
    out += ",[";
    for (std::size_t h = 0; h < msg.headers.size(); ++h) {
      if (h != 0) out += ',';
      out += '[';
      append_quoted(out, msg.headers[h].first);
      out += ',';
      append_quoted(out, msg.headers[h].second);
      out += ']';
    }
    out += "],";
    append_quoted(out, msg.value);
    out += ']';
  }
}

// The history, commands and messages of an entry (`first`: no member before them), each an
// array member present only when not empty.
void write_messages(std::string& out, const Commit& c, bool first) {
  auto member = [&](const char* name, bool present, void (*write)(std::string&, const Commit&)) {
    if (!present) return;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += name;
    out += "\":[";
    write(out, c);
    out += ']';
  };
  member("history", !c.history.empty(), write_history);
  member("sends", !c.sends.empty(), write_sends);
  member("messages", !c.messages.empty(), write_verbatim);
}

}  // namespace

std::string encode_snapshot(const Commit& c, Written& written) {
  const auto& inst = c.instance;
  const sagas::TimeMs at = inst.updated_at;
  const auto& f = kInstanceFields;
  std::string out;
  out.reserve(kSnapshotReserve);
  out += "{\"snapshot\":{";
  Members m(out);
  append_quoted(m.key(f[kId].stored), inst.id);
  append_quoted(m.key(f[kSaga].stored), inst.saga);
  append_integer(m.key(f[kVersion].stored), inst.version);
  append_quoted(m.key(f[kSagaState].stored), sagas::to_string(inst.state));
  inst.input.value_or_null().dump_to(m.key(f[kInput].stored));
  m.key(f[kSteps].stored) += '[';
  // Each step as a patch against a fresh one, which leaves `written` holding it: the state
  // always (a step without one is damaged), the rest when not at its default.
  written.steps.assign(inst.steps.size(), StepRecord{});
  for (std::size_t i = 0; i < inst.steps.size(); ++i) {
    out += i == 0 ? "{" : ",{";
    Members step(out);
    append_quoted(step.key(kStepFields[kStepState].stored), sagas::to_string(inst.steps[i].state));
    write_step_patch(step, written.steps[i], inst.steps[i], at);
    out += '}';
  }
  out += ']';
  if (inst.stage != 0) append_integer(m.key(f[kStage].stored), static_cast<std::int64_t>(inst.stage));
  if (!inst.error.empty()) append_quoted(m.key(f[kSagaError].stored), inst.error);
  append_integer(m.key(f[kCreatedAt].stored), inst.created_at - at);
  append_integer(m.key(f[kUpdatedAt].stored), 0);
  if (inst.deadline_at) append_integer(m.key(f[kDeadlineAt].stored), *inst.deadline_at - at);
  out += '}';
  written.state = inst.state;
  written.stage = inst.stage;
  written.error = inst.error;
  written.deadline_at = inst.deadline_at;
  write_messages(out, c, false);
  out += '}';
  return out;
}

std::string encode_delta(const Commit& c, Written& written) {
  const auto& inst = c.instance;
  std::string out;
  out.reserve(kDeltaReserve);
  out += "{\"patch\":";
  write_header_patch(out, written, inst);
  bool any_step = false;
  for (std::size_t i = 0; i < inst.steps.size() && i < written.steps.size(); ++i) {
    if (i < c.steps_changed.size() && !c.steps_changed[i]) continue;
    const std::size_t mark = out.size();
    out += any_step ? ",[" : ",\"steps\":[[";
    append_integer(out, static_cast<std::int64_t>(i));
    out += ",{";
    Members m(out);
    write_step_patch(m, written.steps[i], inst.steps[i], inst.updated_at);
    if (m.empty()) {
      out.resize(mark);  // nothing of this step changed
      continue;
    }
    out += "}]";
    any_step = true;
  }
  if (any_step) out += ']';
  write_messages(out, c, false);
  out += '}';
  return out;
}

std::string encode_messages(const Commit& c) {
  std::string out = "{";
  write_messages(out, c, true);
  out += '}';
  return out;
}

}  // namespace state::journal
