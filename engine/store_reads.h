// StoreReads: the sagas a store holds, as the orchestrator's API answers for them: statuses
// named by their loaded definitions, the store's errors converted once (from_store, keeping
// the store's own code). The engine reads its own store through it; a cluster node reads the
// sagas of shards it does not work through it, over its view of every shard.
//
// Threading: the caller's; it holds no state beyond the store and the lookup.
#pragma once

#include <functional>
#include <vector>

#include "engine/engine.h"
#include "state/store.h"

namespace engine {

class StoreReads {
 public:
  // The definition a saga was started with, when it is loaded; nullptr: the status shows the
  // saga without its steps.
  using FindDefinition = std::function<const sagas::Definition*(const std::string& saga, int version)>;

  StoreReads(state::Store& store, FindDefinition find) : store_(store), find_(std::move(find)) {}

  Result<SagaStatus> status(const SagaId& id);
  Result<SagaList> list(const state::ListFilter& filter);
  Result<std::vector<state::StateCount>> count(const state::ListFilter& filter);
  Result<std::vector<state::HistoryRow>> history(const SagaId& id);

 private:
  state::Store& store_;
  FindDefinition find_;
};

}  // namespace engine
