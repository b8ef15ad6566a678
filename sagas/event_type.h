// EventType: what a transition records: one history row and one lifecycle event each. The
// engine, its logs, the metrics and the events topic all speak this enum; its text form
// (to_string) is what the history and the events topic carry ("step-succeeded", ...).
#pragma once

#include <optional>
#include <ostream>
#include <string_view>

namespace sagas {

enum class EventType {
  saga_started,
  saga_completed,
  saga_compensated,
  saga_failed,
  step_started,
  step_retried,
  step_succeeded,
  step_failed,
  step_skipped,
  step_timed_out,
  step_attempt_failed,
  step_compensated,
  step_compensation_failed,
  compensation_started,
  compensation_step_started,
  compensation_retried,
  compensation_attempt_failed,
  compensation_timed_out,
  compensation_resumed,
  deadline_passed,
};

std::string_view to_string(EventType e);
std::optional<EventType> event_type_from(std::string_view text);

inline std::ostream& operator<<(std::ostream& out, EventType e) { return out << to_string(e); }

// Events an operator should look at (logged as warnings).
bool is_warning(EventType e);
// The saga-level events that end a saga.
bool is_terminal_event(EventType e);

}  // namespace sagas
