#include "state/journal_writer.h"

namespace state::journal {

std::optional<Known>& BatchMemory::of(const std::string& id) {
  auto [it, fresh] = seen_.try_emplace(id);
  if (fresh) {
    if (auto k = known_.extract(id)) it->second = std::move(k.mapped());
  }
  return it->second;
}

void BatchMemory::keep() {
  for (auto& [id, k] : seen_) {
    if (k) known_.insert_or_assign(id, std::move(*k));
  }
  seen_.clear();
}

std::string encode_entry(const Commit& c, Known& k, bool snapshot) {
  std::string data = snapshot ? encode_snapshot(c, k.written) : encode_delta(c, k.written);
  k.state = c.instance.state;
  k.since_snapshot = snapshot ? 0 : k.since_snapshot + 1;
  return data;
}

}  // namespace state::journal
