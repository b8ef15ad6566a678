#include "cli/loading.h"

#include <filesystem>

namespace cli {

dsl::LoadResult load_or_report(const std::vector<std::string>& paths, std::ostream& err) {
  std::vector<std::filesystem::path> ps(paths.begin(), paths.end());
  dsl::LoadResult r = dsl::load(ps);
  for (const auto& d : r.diagnostics) {
    if (d.severity == dsl::Severity::error) err << dsl::format(d) << "\n";
  }
  return r;
}

std::set<std::string> topics_of(const std::vector<sagas::DefinitionPtr>& defs) {
  std::set<std::string> topics;
  for (const auto& d : defs) {
    topics.insert(d->reply_topic);
    topics.insert(d->reply_topic + ".dlq");
    for (const auto& s : d->steps) {
      topics.insert(s.execute.topic);
      if (s.compensation) topics.insert(s.compensation->topic);
    }
  }
  return topics;
}

std::optional<std::string> create_topics(kafka::DevBroker& broker, const std::set<std::string>& topics,
                                         int partitions) {
  for (const auto& t : topics) {
    if (auto err = broker.create_topic(t, partitions)) return err;
  }
  return std::nullopt;
}

}  // namespace cli
