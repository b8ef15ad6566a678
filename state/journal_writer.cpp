#include "state/journal_writer.h"

namespace state::journal {

std::optional<Known>& BatchMemory::of(const std::string& id) {
  touched_.push_back(id);
  if (auto it = known_.find(std::string_view(id)); it != known_.end()) return it->second;
  return known_.emplace(id, std::nullopt).first->second;
}

void BatchMemory::keep() {
  kept_ = true;
  for (std::string_view id : touched_) {
    auto it = known_.find(id);
    if (it != known_.end() && !it->second) known_.erase(it);
  }
}

BatchMemory::~BatchMemory() {
  if (kept_) return;
  for (std::string_view id : touched_) {
    if (auto it = known_.find(id); it != known_.end()) known_.erase(it);
  }
}

std::string encode_entry(const Commit& c, Known& k, bool snapshot) {
  std::string data = snapshot ? encode_snapshot(c, k.written) : encode_delta(c, k.written);
  k.state = c.instance.state;
  k.since_snapshot = snapshot ? 0 : k.since_snapshot + 1;
  return data;
}

}  // namespace state::journal
