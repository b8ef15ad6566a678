// The writer's side of the journal, shared by every store (internal to state/): which entry of
// a saga is a snapshot and which a delta, and the memory that decides it. Pure: no database.
//
// The writer remembers each unfinished saga it has committed since the store opened (Known):
// the saga's number in the store, its state as its summary row holds it, what its entries so
// far hold (the next delta's base) and how many entries followed its last snapshot. A saga it
// does not know (after a restart, or after a failed commit) gets a snapshot and a fresh
// summary row with its next entry, so a delta is never written against a base the store
// may not hold. A snapshot is also written every kSnapshotEvery entries, so reading a saga
// folds at most that many deltas.
//
// Threading: owned by the committing thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "state/journal_codec.h"
#include "state/store.h"

namespace state::journal {

inline constexpr int kSnapshotEvery = 32;

struct Known {
  std::int64_t num = 0;  // the saga's number, the journal's key
  sagas::SagaState state = sagas::SagaState::running;  // as its summary row holds it
  Written written;
  int since_snapshot = 0;
};

// One batch's hold on the writer's memory. Each saga's Known is taken out when the batch
// first touches it and put back by keep(), once the batch is durable; a batch that failed is
// simply dropped, and those sagas get snapshots next time.
class BatchMemory {
 public:
  explicit BatchMemory(std::unordered_map<std::string, Known>& known) : known_(known) {}
  BatchMemory(const BatchMemory&) = delete;
  BatchMemory& operator=(const BatchMemory&) = delete;

  // What the writer knows of saga `id` within this batch (nullopt: nothing, write a
  // snapshot and the summary row whole).
  std::optional<Known>& of(const std::string& id);
  void keep();

 private:
  std::unordered_map<std::string, Known>& known_;
  std::unordered_map<std::string, std::optional<Known>> seen_;
};

// Whether the commit's entry must be a snapshot.
inline bool needs_snapshot(const Commit& c, const std::optional<Known>& k) {
  return c.new_instance || !k || k->since_snapshot + 1 >= kSnapshotEvery;
}

// The entry's data, a snapshot or a delta against `k`, which then follows it. The caller
// has set k.num; after a terminal transition it should forget the saga (forget_if_done).
std::string encode_entry(const Commit& c, Known& k, bool snapshot);

// Nothing follows a terminal transition: the saga is forgotten.
inline void forget_if_done(const Commit& c, std::optional<Known>& k) {
  if (sagas::is_terminal(c.instance.state)) k.reset();
}

}  // namespace state::journal
