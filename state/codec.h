// Instance <-> JSON, the form the journal keeps an instance (a snapshot) or a step in. Every
// field round-trips exactly (tested), so recovery resumes from the same state. Fields at their
// default value (zero, empty, false, null) are left out and read back as that default.
#pragma once

#include <optional>
#include <string_view>

#include "sagas/instance.h"
#include "sagas/result.h"

namespace state {

sagas::Json to_json(const sagas::Instance& inst);
sagas::Result<sagas::Instance> instance_from_json(const sagas::Json& j);
sagas::Result<sagas::Instance> instance_from_json(sagas::Json&& j);  // moves the payloads out

sagas::Json to_json(const sagas::StepRecord& r);
sagas::Result<sagas::StepRecord> step_from_json(const sagas::Json& j);
sagas::Result<sagas::StepRecord> step_from_json(sagas::Json&& j);

}  // namespace state
