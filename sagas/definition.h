// Definition: a compiled, validated saga. Produced by the DSL compiler (dsl/), read by the
// engine; immutable once built and shared as shared_ptr<const Definition>, so every running
// instance keeps the exact version it started with (version pinning) while newer versions
// load beside it.
//
// Steps are stored flat in definition order (parallel group members in place) and addressed
// by StepIndex. Execution order is `stages`: a stage is one sequential step or one parallel
// group whose members run at the same time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sagas/named_type.h"
#include "sagas/schema.h"
#include "sagas/template.h"

namespace sagas {

using Millis = std::chrono::milliseconds;

enum class Backoff { fixed, exponential };

struct RetryPolicy {
  std::optional<std::uint32_t> max_attempts;  // nullopt: retry forever
  Backoff backoff = Backoff::exponential;
  Millis initial{1000};
  Millis max{30000};
  bool jitter = true;

  bool forever() const { return !max_attempts.has_value(); }
  bool operator==(const RetryPolicy&) const = default;
};

enum class CompensationStrategy { sequential, parallel };

// A command sent to a participant: the step's own, or its compensation.
struct CommandSpec {
  std::string topic;
  std::string command;
  Template payload;
  Millis timeout{30000};  // per attempt
  RetryPolicy retry;
};

struct Step {
  std::string name;
  StepIndex index{};
  std::optional<GroupIndex> group;  // set for members of a parallel group
  std::size_t stage = 0;            // index into Definition::stages
  CommandSpec execute;
  std::optional<CommandSpec> compensation;
  std::optional<Template> when;  // skipped when it renders false, null or absent
  bool pivot = false;
  bool retriable = false;  // after the pivot: retried until it succeeds, never compensated
};

struct Group {
  std::string name;
  std::vector<StepIndex> members;
};

struct Stage {
  std::vector<StepIndex> steps;      // one step, or a group's members
  std::optional<GroupIndex> group;
};

struct Definition {
  std::string name;
  int version = 1;
  std::string description;
  std::string source;  // file it was compiled from, for messages
  std::optional<Schema> input;
  std::string reply_topic;
  CompensationStrategy compensation_strategy = CompensationStrategy::sequential;
  std::optional<Millis> deadline;
  std::vector<Step> steps;
  std::vector<Group> groups;
  std::vector<Stage> stages;
  std::optional<StepIndex> pivot;

  const Step& step(StepIndex i) const { return steps[i.value()]; }
  const Group& group(GroupIndex i) const { return groups[i.value()]; }
  std::optional<StepIndex> find_step(std::string_view step_name) const;
};

using DefinitionPtr = std::shared_ptr<const Definition>;

}  // namespace sagas
