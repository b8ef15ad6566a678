#include "state/memory_store.h"

#include <algorithm>

namespace state {

Status MemoryStore::commit(std::span<Commit> batch, std::span<const std::int64_t> sent) {
  for (const auto& c : batch) {
    if (c.new_instance && instances_.count(c.instance.id) > 0) {
      return {Errc::corrupt, "saga id \"" + c.instance.id + "\" already exists"};
    }
  }
  for (auto& c : batch) {
    if (c.messages_only) {
      for (auto& m : c.outbox) {
        m.id = next_outbox_id_++;
        m.saga_id = c.instance.id;
        outbox_[m.id] = m;
      }
      continue;
    }
    instances_[c.instance.id] = c.instance;
    auto& h = history_[c.instance.id];
    h.insert(h.end(), c.history.begin(), c.history.end());
    for (auto& m : c.outbox) {
      m.id = next_outbox_id_++;
      m.saga_id = c.instance.id;
      outbox_[m.id] = m;
    }
    if (c.processed_reply) processed_[*c.processed_reply] = c.instance.id;
  }
  for (auto id : sent) outbox_.erase(id);
  return Status::success();
}

Result<std::optional<sagas::Instance>> MemoryStore::load(const std::string& id) {
  auto it = instances_.find(id);
  if (it == instances_.end()) return std::optional<sagas::Instance>();
  return std::optional<sagas::Instance>(it->second);
}

Result<std::vector<sagas::Instance>> MemoryStore::load_active() {
  std::vector<sagas::Instance> out;
  for (const auto& [id, inst] : instances_) {
    if (!sagas::is_terminal(inst.state)) out.push_back(inst);
  }
  return out;
}

Result<Listed> MemoryStore::list(const ListFilter& f) {
  std::vector<sagas::Instance> all;
  for (const auto& [id, inst] : instances_) {
    if (f.state && inst.state != *f.state) continue;
    if (f.saga && inst.saga != *f.saga) continue;
    all.push_back(inst);
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.created_at > b.created_at; });
  if (f.offset >= all.size()) return Listed{};
  auto first = all.begin() + static_cast<std::ptrdiff_t>(f.offset);
  auto last = first + static_cast<std::ptrdiff_t>(std::min(f.limit, all.size() - f.offset));
  return Listed{{first, last}, {}};
}

Result<std::vector<HistoryRow>> MemoryStore::history(const std::string& id) {
  auto it = history_.find(id);
  return it == history_.end() ? std::vector<HistoryRow>{} : it->second;
}

Result<std::vector<OutboxMessage>> MemoryStore::pending_outbox() {
  std::vector<OutboxMessage> out;
  for (const auto& [id, m] : outbox_) out.push_back(m);
  return out;
}

Status MemoryStore::mark_sent(std::span<const std::int64_t> ids) {
  for (auto id : ids) outbox_.erase(id);
  return Status::success();
}

Result<bool> MemoryStore::reply_processed(const std::string& message_id) { return processed_.count(message_id) > 0; }

Result<bool> MemoryStore::was_pruned(const std::string& id) { return pruned_.count(id) > 0; }

Result<std::size_t> MemoryStore::prune(TimeMs before, std::size_t max_sagas, TimeMs now) {
  std::erase_if(pruned_, [&](const auto& kv) { return kv.second < before; });
  std::vector<std::string> ids;
  for (const auto& [id, inst] : instances_) {
    if (ids.size() >= max_sagas) break;
    if (sagas::is_terminal(inst.state) && inst.updated_at < before) ids.push_back(id);
  }
  for (const auto& id : ids) {
    instances_.erase(id);
    history_.erase(id);
    std::erase_if(outbox_, [&](const auto& kv) { return kv.second.saga_id == id; });
    std::erase_if(processed_, [&](const auto& kv) { return kv.second == id; });
    pruned_[id] = now;
  }
  return ids.size();
}

}  // namespace state
