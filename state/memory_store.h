// MemoryStore: the Store in memory, for unit tests of the engine's logic only. Nothing
// survives the process; the product always uses SqliteStore. One mutex gives it the port's
// threading (commit on one thread, reads on another).
#pragma once

#include <map>
#include <mutex>

#include "state/store.h"

namespace state {

class MemoryStore final : public Store {
 public:
  Status commit(std::span<Commit> batch, Position delivered) override;
  Result<std::optional<sagas::Instance>> load(const std::string& id) override;
  Result<std::vector<sagas::Instance>> load_active() override;
  Result<Listed> list(const ListFilter& filter) override;
  Result<std::vector<StateCount>> count(const ListFilter& filter) override;
  Result<std::vector<HistoryRow>> history(const std::string& id) override;
  Result<Backlog> undelivered() override;
  Result<bool> was_pruned(const std::string& id) override;
  Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override;
  Result<std::size_t> prune(TimeMs before, std::size_t max_sagas, TimeMs now) override;
  // The same store's reads (under its mutex): the engine's reader thread runs in unit tests too.
  Result<std::unique_ptr<Store>> open_reader() override;

 private:
  std::map<std::string, sagas::Instance> instances_;
  std::map<std::string, std::vector<HistoryRow>> history_;
  std::map<Position, Undelivered> journal_;  // what each entry sends, for undelivered()
  std::map<std::string, TimeMs> pruned_;     // tombstones: saga id -> when pruned
  Position last_ = 0;
  Position delivered_ = 0;
  mutable std::mutex mutex_;
};

}  // namespace state
