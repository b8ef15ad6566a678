// Instance: the state of one running saga, as the pure machine (machine.h) sees it and the
// store persists it. Plain data; every field survives a round trip through the store, so an
// instance loaded after a crash continues exactly where its last commit left it, timers
// included (timer_at).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sagas/json.h"
#include "sagas/shared_json.h"

namespace sagas {

// Milliseconds since the Unix epoch. The machine has no clock: every event carries `now`.
using TimeMs = std::int64_t;

enum class SagaState { running, completed, compensating, compensated, failed };
enum class StepState {
  pending,
  running,
  succeeded,
  failed,
  skipped,
  compensating,
  compensated,
  compensation_failed
};
// The `saga-action` of a command: the step's own command or its compensation.
enum class CommandKind { execute, compensate };
// What a step's single timer is waiting for.
enum class TimerKind { attempt_timeout, retry_backoff };

std::string_view to_string(SagaState s);
std::string_view to_string(StepState s);
std::string_view to_string(CommandKind k);
std::string_view to_string(TimerKind k);
std::optional<SagaState> saga_state_from(std::string_view s);
std::optional<StepState> step_state_from(std::string_view s);
std::optional<CommandKind> command_kind_from(std::string_view s);

bool is_terminal(SagaState s);

struct StepRecord {
  StepState state = StepState::pending;
  std::uint32_t attempts = 0;               // execute commands sent
  std::uint32_t compensation_attempts = 0;  // compensate commands sent, ever
  std::uint32_t compensation_budget_from = 0;  // attempts before the last operator resume
  bool outcome_unknown = false;     // failed by timeout: the participant may have acted
  bool compensation_gave_up = false;  // ran out of compensation attempts
  SharedJson request;               // the payload sent (execute)
  SharedJson reply;                 // the success reply's body
  std::string error;                // last error, for status
  TimeMs started_at = 0;
  TimeMs finished_at = 0;
  // The step's one timer: what it is for and when it fires (recovery re-arms it).
  std::optional<TimeMs> timer_at;
  TimerKind timer_kind = TimerKind::attempt_timeout;
  CommandKind timer_for = CommandKind::execute;

  bool operator==(const StepRecord&) const = default;
};

struct Instance {
  std::string id;
  std::string saga;  // definition name
  int version = 0;   // definition version, pinned for the instance's life
  SagaState state = SagaState::running;
  SharedJson input;  // set once, at the start
  std::vector<StepRecord> steps;  // by StepIndex
  std::size_t stage = 0;          // the forward stage in progress
  std::string error;              // why it is compensating / failed
  TimeMs created_at = 0;
  TimeMs updated_at = 0;
  std::optional<TimeMs> deadline_at;

  bool operator==(const Instance&) const = default;
};

}  // namespace sagas
