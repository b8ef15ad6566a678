#include "sagas/definition.h"

namespace sagas {

std::optional<StepIndex> Definition::find_step(std::string_view step_name) const {
  for (const auto& s : steps) {
    if (s.name == step_name) return s.index;
  }
  return std::nullopt;
}

}  // namespace sagas
