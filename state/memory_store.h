// MemoryStore: the Store in memory, for unit tests of the engine's logic only. Nothing
// survives the process; the product always uses SqliteStore.
#pragma once

#include <map>

#include "state/store.h"

namespace state {

class MemoryStore final : public Store {
 public:
  Status commit(std::span<Commit> batch, std::span<const std::int64_t> sent) override;
  using Store::commit;
  Result<std::optional<sagas::Instance>> load(const std::string& id) override;
  Result<std::vector<sagas::Instance>> load_active() override;
  Result<Listed> list(const ListFilter& filter) override;
  Result<std::vector<HistoryRow>> history(const std::string& id) override;
  Result<std::vector<OutboxMessage>> pending_outbox() override;
  Status mark_sent(std::span<const std::int64_t> outbox_ids) override;
  Result<bool> reply_processed(const std::string& message_id) override;
  Result<bool> was_pruned(const std::string& id) override;
  Result<std::size_t> prune(TimeMs before, std::size_t max_sagas, TimeMs now) override;

 private:
  std::map<std::string, sagas::Instance> instances_;
  std::map<std::string, std::vector<HistoryRow>> history_;
  std::map<std::int64_t, OutboxMessage> outbox_;
  std::map<std::string, std::string> processed_;  // message id -> saga id
  std::map<std::string, TimeMs> pruned_;  // tombstones: saga id -> when pruned
  std::int64_t next_outbox_id_ = 1;
};

}  // namespace state
