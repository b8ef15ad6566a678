#include "sagas/event_type.h"

#include <array>
#include <utility>

namespace sagas {

namespace {

constexpr std::array<std::pair<EventType, std::string_view>, 20> kNames{{
    {EventType::saga_started, "saga-started"},
    {EventType::saga_completed, "saga-completed"},
    {EventType::saga_compensated, "saga-compensated"},
    {EventType::saga_failed, "saga-failed"},
    {EventType::step_started, "step-started"},
    {EventType::step_retried, "step-retried"},
    {EventType::step_succeeded, "step-succeeded"},
    {EventType::step_failed, "step-failed"},
    {EventType::step_skipped, "step-skipped"},
    {EventType::step_timed_out, "step-timed-out"},
    {EventType::step_attempt_failed, "step-attempt-failed"},
    {EventType::step_compensated, "step-compensated"},
    {EventType::step_compensation_failed, "step-compensation-failed"},
    {EventType::compensation_started, "compensation-started"},
    {EventType::compensation_step_started, "compensation-step-started"},
    {EventType::compensation_retried, "compensation-retried"},
    {EventType::compensation_attempt_failed, "compensation-attempt-failed"},
    {EventType::compensation_timed_out, "compensation-timed-out"},
    {EventType::compensation_resumed, "compensation-resumed"},
    {EventType::deadline_passed, "deadline-passed"},
}};

}  // namespace

std::string_view to_string(EventType e) {
  for (const auto& [type, name] : kNames) {
    if (type == e) return name;
  }
  return "unknown";
}

std::optional<EventType> event_type_from(std::string_view text) {
  for (const auto& [type, name] : kNames) {
    if (name == text) return type;
  }
  return std::nullopt;
}

bool is_warning(EventType e) {
  switch (e) {
    case EventType::step_failed:
    case EventType::step_timed_out:
    case EventType::step_compensation_failed:
    case EventType::compensation_timed_out:
    case EventType::deadline_passed:
    case EventType::saga_failed:
      return true;
    default:
      return false;
  }
}

bool is_terminal_event(EventType e) {
  return e == EventType::saga_completed || e == EventType::saga_compensated || e == EventType::saga_failed;
}

}  // namespace sagas
