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
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

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

// What the writer knows of each unfinished saga, by id. A saga is entered with its first
// entry and erased once it is finished (or when a batch that touched it failed).
// Looked up by string_view too (transparent hash), so a batch's views need no copies.
struct IdHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view id) const { return std::hash<std::string_view>{}(id); }
};
using KnownSagas = std::unordered_map<std::string, std::optional<Known>, IdHash, std::equal_to<>>;

// One batch's hold on the writer's memory. Each saga's Known is updated in place as the batch
// writes its entries; once the batch is durable, keep() erases the sagas it finished. A batch
// that failed (destroyed without keep()) erases every saga it touched: they get snapshots
// next time, so a delta is never written against an entry that was rolled back.
// Ids are held as views of the batch's commits, which outlive it.
class BatchMemory {
 public:
  explicit BatchMemory(KnownSagas& known) : known_(known) {}
  ~BatchMemory();
  BatchMemory(const BatchMemory&) = delete;
  BatchMemory& operator=(const BatchMemory&) = delete;

  // What the writer knows of saga `id` (nullopt: nothing, write a snapshot and the summary
  // row whole); the caller emplaces or resets it as it writes.
  std::optional<Known>& of(const std::string& id);
  void keep();

 private:
  KnownSagas& known_;
  std::vector<std::string_view> touched_;
  bool kept_ = false;
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
