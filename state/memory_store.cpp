#include "state/memory_store.h"

#include <algorithm>
#include <map>
#include <tuple>

namespace state {

Status MemoryStore::commit(std::span<Commit> batch, Position delivered) {
  std::lock_guard lock(mutex_);
  for (const auto& c : batch) {
    if (c.new_instance && instances_.count(c.instance.id) > 0) {
      return {Errc::corrupt, "saga id \"" + c.instance.id + "\" already exists"};
    }
  }
  for (auto& c : batch) {
    c.position = ++last_;
    const auto& inst = c.instance;
    journal_[c.position] = {c.position, c.messages_only ? std::string() : inst.id, inst.saga, inst.version,
                            {c.history.begin(), c.history.end()}, {c.sends.begin(), c.sends.end()}, c.messages};
    if (c.messages_only) continue;
    instances_[inst.id] = inst;
    auto& h = history_[inst.id];
    h.insert(h.end(), c.history.begin(), c.history.end());
  }
  delivered_ = std::min(std::max(delivered_, delivered), last_);
  journal_.erase(journal_.begin(), journal_.upper_bound(delivered_));
  return Status::success();
}

Result<std::optional<sagas::Instance>> MemoryStore::load(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = instances_.find(id);
  if (it == instances_.end()) return std::optional<sagas::Instance>();
  return std::optional<sagas::Instance>(it->second);
}

Result<std::vector<sagas::Instance>> MemoryStore::load_active() {
  std::lock_guard lock(mutex_);
  std::vector<sagas::Instance> out;
  for (const auto& [id, inst] : instances_) {
    if (!sagas::is_terminal(inst.state)) out.push_back(inst);
  }
  return out;
}

namespace {

// The filter's conditions other than state, cursor and paging.
bool matches(const ListFilter& f, const sagas::Instance& inst) {
  if (f.saga && inst.saga != *f.saga) return false;
  if (f.version && inst.version != *f.version) return false;
  if (f.id_prefix && inst.id.compare(0, f.id_prefix->size(), *f.id_prefix) != 0) return false;
  if (f.created_from && inst.created_at < *f.created_from) return false;
  if (f.created_until && inst.created_at >= *f.created_until) return false;
  return true;
}

// Whether a saga created at `a_at` with id `a_id` is listed before one at (`b_at`, `b_id`):
// newest first, equal times by id.
bool listed_before(TimeMs a_at, const std::string& a_id, TimeMs b_at, const std::string& b_id) {
  return a_at != b_at ? a_at > b_at : a_id < b_id;
}

}  // namespace

Result<Listed> MemoryStore::list(const ListFilter& f) {
  std::lock_guard lock(mutex_);
  std::vector<sagas::Instance> all;
  for (const auto& [id, inst] : instances_) {
    if (f.state && inst.state != *f.state) continue;
    if (!matches(f, inst)) continue;
    if (f.after && !listed_before(f.after->created_at, f.after->id, inst.created_at, inst.id)) continue;
    all.push_back(inst);
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return listed_before(a.created_at, a.id, b.created_at, b.id); });
  if (f.offset >= all.size()) return Listed{};
  auto first = all.begin() + static_cast<std::ptrdiff_t>(f.offset);
  auto last = first + static_cast<std::ptrdiff_t>(std::min(f.limit, all.size() - f.offset));
  return Listed{{first, last}, {}};
}

Result<std::vector<StateCount>> MemoryStore::count(const ListFilter& f) {
  std::lock_guard lock(mutex_);
  std::map<std::tuple<std::string, int, sagas::SagaState>, std::size_t> counts;
  for (const auto& [id, inst] : instances_) {
    if (matches(f, inst)) ++counts[{inst.saga, inst.version, inst.state}];
  }
  std::vector<StateCount> out;
  for (const auto& [key, n] : counts) out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
  return out;
}

Result<std::vector<HistoryRow>> MemoryStore::history(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = history_.find(id);
  return it == history_.end() ? std::vector<HistoryRow>{} : it->second;
}

Result<Backlog> MemoryStore::undelivered() {
  std::lock_guard lock(mutex_);
  Backlog out{last_, delivered_, {}};
  for (const auto& [pos, e] : journal_) {
    if (e.history.empty() && e.sends.empty() && e.messages.empty()) continue;
    Undelivered u = e;
    for (auto& s : u.sends) {
      if (s.kind == sagas::CommandKind::execute) s.payload = sagas::Json();  // as the port promises
    }
    out.entries.push_back(std::move(u));
  }
  return out;
}

Result<std::vector<std::string>> MemoryStore::ids_starting_with(const std::string& prefix, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (auto it = instances_.lower_bound(prefix); it != instances_.end() && out.size() < limit; ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.push_back(it->first);
  }
  return out;
}

Result<bool> MemoryStore::was_pruned(const std::string& id) {
  std::lock_guard lock(mutex_);
  return pruned_.count(id) > 0;
}

Result<std::size_t> MemoryStore::prune(TimeMs before, std::size_t max_sagas, TimeMs now) {
  std::lock_guard lock(mutex_);
  std::erase_if(pruned_, [&](const auto& kv) { return kv.second < before; });
  std::vector<std::string> ids;
  for (const auto& [id, inst] : instances_) {
    if (ids.size() >= max_sagas) break;
    if (sagas::is_terminal(inst.state) && inst.updated_at < before) ids.push_back(id);
  }
  for (const auto& id : ids) {
    instances_.erase(id);
    history_.erase(id);
    std::erase_if(journal_, [&](const auto& kv) { return kv.second.saga_id == id; });
    pruned_[id] = now;
  }
  return ids.size();
}

namespace {

// A reader handle on a MemoryStore: its reads, which lock the store's mutex themselves.
class MemoryReader final : public Store {
 public:
  explicit MemoryReader(MemoryStore& store) : store_(store) {}

  Status commit(std::span<Commit>, Position) override { return refused(); }
  Result<std::optional<sagas::Instance>> load(const std::string& id) override { return store_.load(id); }
  Result<std::vector<sagas::Instance>> load_active() override { return refused(); }
  Result<Listed> list(const ListFilter& filter) override { return store_.list(filter); }
  Result<std::vector<StateCount>> count(const ListFilter& filter) override { return store_.count(filter); }
  Result<std::vector<HistoryRow>> history(const std::string& id) override { return store_.history(id); }
  Result<Backlog> undelivered() override { return refused(); }
  Result<bool> was_pruned(const std::string& id) override { return store_.was_pruned(id); }
  Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override {
    return store_.ids_starting_with(prefix, limit);
  }
  Result<std::size_t> prune(TimeMs, std::size_t, TimeMs) override { return refused(); }

 private:
  static Status refused() { return {Errc::io, "a reader handle only reads: commit, recover and prune through its owner"}; }
  MemoryStore& store_;
};

}  // namespace

Result<std::unique_ptr<Store>> MemoryStore::open_reader() { return std::unique_ptr<Store>(new MemoryReader(*this)); }

}  // namespace state
