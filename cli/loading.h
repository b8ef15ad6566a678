// What `run` and `dev-broker` both do before they start: load the saga files (reporting their
// errors), name every topic the sagas use, and create those topics on a development broker.
#pragma once

#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "dsl/loader.h"
#include "kafka/dev_broker.h"

namespace cli {

// Loads the files and folders in `paths`; their errors go to `err`, one line each.
dsl::LoadResult load_or_report(const std::vector<std::string>& paths, std::ostream& err);

// Every topic the sagas use, and their dead-letter topics.
std::set<std::string> topics_of(const std::vector<sagas::DefinitionPtr>& defs);

// Creates each topic with `partitions` partitions; the first refusal, if any.
std::optional<std::string> create_topics(kafka::DevBroker& broker, const std::set<std::string>& topics,
                                         int partitions);

}  // namespace cli
