#include "sagas/instance.h"

#include <array>
#include <utility>

namespace sagas {

namespace {

constexpr std::array<std::pair<SagaState, std::string_view>, 5> kSagaStates = {{
    {SagaState::running, "running"},
    {SagaState::completed, "completed"},
    {SagaState::compensating, "compensating"},
    {SagaState::compensated, "compensated"},
    {SagaState::failed, "failed"},
}};

constexpr std::array<std::pair<StepState, std::string_view>, 8> kStepStates = {{
    {StepState::pending, "pending"},
    {StepState::running, "running"},
    {StepState::succeeded, "succeeded"},
    {StepState::failed, "failed"},
    {StepState::skipped, "skipped"},
    {StepState::compensating, "compensating"},
    {StepState::compensated, "compensated"},
    {StepState::compensation_failed, "compensation_failed"},
}};

template <typename E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <typename E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(SagaState s) { return name_of(kSagaStates, s); }
std::string_view to_string(StepState s) { return name_of(kStepStates, s); }
std::string_view to_string(CommandKind k) { return k == CommandKind::execute ? "execute" : "compensate"; }
std::string_view to_string(TimerKind k) {
  return k == TimerKind::attempt_timeout ? "attempt_timeout" : "retry_backoff";
}
std::optional<SagaState> saga_state_from(std::string_view s) { return value_of(kSagaStates, s); }
std::optional<StepState> step_state_from(std::string_view s) { return value_of(kStepStates, s); }
std::optional<CommandKind> command_kind_from(std::string_view s) {
  if (s == "execute") return CommandKind::execute;
  if (s == "compensate") return CommandKind::compensate;
  return std::nullopt;
}

bool is_terminal(SagaState s) {
  return s == SagaState::completed || s == SagaState::compensated || s == SagaState::failed;
}

}  // namespace sagas
