#include "engine/store_reads.h"

namespace engine {

Result<SagaStatus> StoreReads::status(const SagaId& id) {
  auto stored = store_.load(id.value());
  if (!stored) return from_store(stored.error());
  if (!*stored) return Status{Errc::not_found, "no saga with id \"" + id.value() + "\""};
  return make_status(find_((*stored)->saga, (*stored)->version), **stored);
}

Result<SagaList> StoreReads::list(const state::ListFilter& filter) {
  auto listed = store_.list(filter);
  if (!listed) return from_store(listed.error());
  SagaList out;
  for (const auto& inst : listed->sagas) out.sagas.push_back(make_status(nullptr, inst));
  out.unreadable = std::move(listed->unreadable);
  return out;
}

Result<std::vector<state::StateCount>> StoreReads::count(const state::ListFilter& filter) {
  auto counted = store_.count(filter);
  if (!counted) return from_store(counted.error());
  return std::move(counted).value();
}

Result<std::vector<state::HistoryRow>> StoreReads::history(const SagaId& id) {
  auto rows = store_.history(id.value());
  if (!rows) return from_store(rows.error());
  return std::move(rows).value();
}

}  // namespace engine
