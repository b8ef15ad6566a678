// The machine's helpers that are no transition: a new instance, a command with its message id
// and idempotency key, and the delay before a retry.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "sagas/machine.h"

namespace sagas {

namespace {
// "<saga id>/<step>/<action>": a command's idempotency key; sized once, built in place.
std::string idempotency_key_of(const std::string& saga_id, const Definition& def, StepIndex step, CommandKind kind,
                               std::size_t extra = 0) {
  const std::string& name = def.step(step).name;
  const std::string_view action = to_string(kind);
  std::string out;
  out.reserve(saga_id.size() + name.size() + action.size() + 2 + extra);
  out += saga_id;
  out += '/';
  out += name;
  out += '/';
  out += action;
  return out;
}

// The key and "/<attempt>": one attempt's message id.
std::string message_id_of(const std::string& saga_id, const Definition& def, StepIndex step, CommandKind kind,
                          Attempt attempt) {
  constexpr std::size_t kAttemptDigits = 11;  // '/' and a 32-bit number
  std::string out = idempotency_key_of(saga_id, def, step, kind, kAttemptDigits);
  out += '/';
  char digits[kAttemptDigits];
  auto end = std::to_chars(digits, digits + sizeof digits, attempt.value()).ptr;
  out.append(digits, end);
  return out;
}
}  // namespace

std::string message_id(const Instance& inst, const Definition& def, StepIndex step, CommandKind kind,
                       Attempt attempt) {
  return message_id_of(inst.id, def, step, kind, attempt);
}

SendCommand make_command(const Definition& def, const std::string& saga_id, StepIndex step, CommandKind kind,
                         Attempt attempt, SharedJson payload) {
  const Step& st = def.step(step);
  const CommandSpec& spec = kind == CommandKind::execute ? st.execute : *st.compensation;
  SendCommand cmd;
  cmd.step = step;
  cmd.kind = kind;
  cmd.attempt = attempt;
  cmd.message_id = message_id_of(saga_id, def, step, kind, attempt);
  cmd.idempotency_key = idempotency_key_of(saga_id, def, step, kind);
  cmd.topic = spec.topic;
  cmd.command = spec.command;
  cmd.payload = std::move(payload);
  return cmd;
}

Millis backoff_delay(const RetryPolicy& policy, std::uint32_t attempt, double random01) {
  double delay = static_cast<double>(policy.initial.count());
  if (policy.backoff == Backoff::exponential && attempt > 1) {
    delay *= std::pow(2.0, std::min<double>(attempt - 1, 62));
  }
  delay = std::min(delay, static_cast<double>(policy.max.count()));
  // "Equal jitter": half the delay is kept, so retries never bunch at zero.
  if (policy.jitter) delay = delay / 2 + delay / 2 * std::clamp(random01, 0.0, 1.0);
  return Millis(static_cast<Millis::rep>(delay));
}

Instance new_instance(const Definition& def, std::string id, Json input, TimeMs now) {
  Instance inst;
  inst.id = std::move(id);
  inst.saga = def.name;
  inst.version = def.version;
  inst.input = std::move(input);
  inst.steps.resize(def.steps.size());
  inst.created_at = now;
  inst.updated_at = now;
  return inst;
}

}  // namespace sagas
