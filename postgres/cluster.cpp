#include "postgres/cluster.h"

#include <boost/crc.hpp>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "postgres/conn.h"

namespace postgres {

namespace {

// Held (transaction-scoped) while the shard count is recorded: two first nodes starting at
// once record one count. Any number, distinct from the store's: "sagacls" in ASCII.
constexpr std::int64_t kClusterLock = 0x73616761'63'6c73LL;

// The view over every shard: each read asks the shards that may hold the answer and merges.
// A shard no node has owned yet has no schema and holds no sagas; it is looked for again at
// each read until it appears.
class ClusterView final : public state::Store {
 public:
  ClusterView(std::string url, int shards) : url_(std::move(url)), shards_(static_cast<std::size_t>(shards)) {}

  // Opens the shards that exist now.
  state::Status open() {
    for (std::size_t s = 0; s < shards_.size(); ++s) {
      if (auto st = shard(s); !st) return st.error();
    }
    return state::Status::success();
  }

  state::Result<std::unique_ptr<state::Store>> open_reader() override {
    auto reader = std::make_unique<ClusterView>(url_, static_cast<int>(shards_.size()));
    if (state::Status st = reader->open(); !st.ok()) return st;
    return std::unique_ptr<state::Store>(std::move(reader));
  }

  state::Status commit(std::span<state::Commit>, state::Position) override { return read_only(); }
  state::Result<std::vector<sagas::Instance>> load_active() override { return read_only(); }
  state::Result<state::Backlog> undelivered() override { return read_only(); }
  state::Result<std::size_t> prune(sagas::TimeMs, std::size_t, sagas::TimeMs) override { return read_only(); }

  state::Result<std::optional<sagas::Instance>> load(const std::string& id) override {
    auto s = of(id);
    if (!s) return s.error();
    return *s ? (*s)->load(id) : std::optional<sagas::Instance>{};
  }
  state::Result<std::vector<state::HistoryRow>> history(const std::string& id) override {
    auto s = of(id);
    if (!s) return s.error();
    return *s ? (*s)->history(id) : std::vector<state::HistoryRow>{};
  }
  state::Result<bool> was_pruned(const std::string& id) override {
    auto s = of(id);
    if (!s) return s.error();
    return *s ? (*s)->was_pruned(id) : false;
  }

  // Each shard's first offset+limit rows in the same order, merged: newest first, then by id.
  state::Result<state::Listed> list(const state::ListFilter& filter) override {
    state::ListFilter each = filter;
    each.offset = 0;
    each.limit = filter.offset + filter.limit;
    state::Listed all;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      auto s = shard(i);
      if (!s) return s.error();
      if (*s == nullptr) continue;
      auto page = (*s)->list(each);
      if (!page) return page.error();
      std::move(page->sagas.begin(), page->sagas.end(), std::back_inserter(all.sagas));
      std::move(page->unreadable.begin(), page->unreadable.end(), std::back_inserter(all.unreadable));
    }
    std::sort(all.sagas.begin(), all.sagas.end(), [](const sagas::Instance& a, const sagas::Instance& b) {
      return std::tie(b.created_at, a.id) < std::tie(a.created_at, b.id);
    });
    auto from = std::min(filter.offset, all.sagas.size());
    auto to = std::min(from + filter.limit, all.sagas.size());
    all.sagas = {std::make_move_iterator(all.sagas.begin() + static_cast<std::ptrdiff_t>(from)),
                 std::make_move_iterator(all.sagas.begin() + static_cast<std::ptrdiff_t>(to))};
    return all;
  }

  state::Result<std::vector<state::StateCount>> count(const state::ListFilter& filter) override {
    std::map<std::tuple<std::string, int, sagas::SagaState>, std::size_t> sums;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      auto s = shard(i);
      if (!s) return s.error();
      if (*s == nullptr) continue;
      auto counted = (*s)->count(filter);
      if (!counted) return counted.error();
      for (const auto& c : *counted) sums[{c.saga, c.version, c.state}] += c.count;
    }
    std::vector<state::StateCount> out;
    for (const auto& [key, n] : sums) out.push_back({std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
    return out;
  }

  state::Result<std::vector<std::string>> ids_starting_with(const std::string& prefix, std::size_t limit) override {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      auto s = shard(i);
      if (!s) return s.error();
      if (*s == nullptr) continue;
      auto some = (*s)->ids_starting_with(prefix, limit);
      if (!some) return some.error();
      std::move(some->begin(), some->end(), std::back_inserter(ids));
    }
    std::sort(ids.begin(), ids.end());
    if (ids.size() > limit) ids.resize(limit);
    return ids;
  }

 private:
  static state::Status read_only() {
    return {state::Errc::io, "the cluster's view is read-only: only the orchestrator that owns a shard writes it"};
  }
  // Shard `i`'s store; null while no node has owned it.
  state::Result<PostgresStore*> shard(std::size_t i) {
    if (shards_[i]) return shards_[i].get();
    auto store = PostgresStore::open({.url = url_, .owner = {}, .read_only = true, .lock_wait_ms = 0,
                                      .schema = shard_schema(static_cast<int>(i)), .take_over = false});
    if (!store && store.error().code == state::Errc::not_found) return nullptr;
    if (!store) return store.error();
    shards_[i] = std::move(store).value();
    return shards_[i].get();
  }
  state::Result<PostgresStore*> of(const std::string& id) {
    return shard(static_cast<std::size_t>(shard_of(id, static_cast<int>(shards_.size()))));
  }

  std::string url_;
  std::vector<std::unique_ptr<PostgresStore>> shards_;
};

}  // namespace

int shard_of(std::string_view saga_id, int shards) {
  boost::crc_32_type crc;
  crc.process_bytes(saga_id.data(), saga_id.size());
  return static_cast<int>(crc.checksum() % static_cast<std::uint32_t>(shards));
}

std::string shard_schema(int shard) { return "sagactl_shard_" + std::to_string(shard); }

state::Result<std::optional<ClusterShape>> cluster_shape(const std::string& url) {
  Conn conn;
  if (state::Status st = conn.open(url); !st.ok()) return st;
  auto exists = conn.run("SELECT to_regclass('sagactl_cluster') IS NOT NULL");
  if (!exists) return exists.error();
  if (exists->text(0, 0) != "t") return std::optional<ClusterShape>{};
  auto row = conn.run("SELECT topic, shards FROM sagactl_cluster");
  if (!row) return row.error();
  if (row->empty()) return std::optional<ClusterShape>{};
  return std::optional<ClusterShape>{ClusterShape{row->str(0, 0), static_cast<int>(row->int64(0, 1))}};
}

state::Result<ClusterShape> join_cluster(const std::string& url, const ClusterShape& proposed) {
  if (proposed.shards < 1 || proposed.shards > kMaxShards) {
    return state::Status{state::Errc::corrupt, "a cluster has 1 to " + std::to_string(kMaxShards) + " shards (the partitions of " +
                                     proposed.topic + "), not " + std::to_string(proposed.shards)};
  }
  Conn conn;
  if (state::Status st = conn.open(url); !st.ok()) return st;
  ClusterShape recorded = proposed;
  state::Status st = conn.transaction([&]() -> state::Status {
    if (auto locked = conn.run("SELECT pg_advisory_xact_lock($1)", {kClusterLock}); !locked) return locked.error();
    auto single = conn.run("SELECT to_regclass('sagactl_schema') IS NOT NULL");
    if (!single) return single.error();
    if (single->text(0, 0) == "t") {
      return state::Status{state::Errc::locked, conn.where() + " holds the state of a single orchestrator (not a cluster); give the "
                                                 "cluster a database of its own, or run without cluster mode"};
    }
    if (state::Status made = conn.exec("CREATE TABLE IF NOT EXISTS sagactl_cluster (topic text NOT NULL, shards integer NOT NULL)");
        !made.ok()) {
      return made;
    }
    auto row = conn.run("SELECT topic, shards FROM sagactl_cluster");
    if (!row) return row.error();
    if (!row->empty()) {
      recorded = {row->str(0, 0), static_cast<int>(row->int64(0, 1))};
      return state::Status::success();
    }
    auto put = conn.run("INSERT INTO sagactl_cluster VALUES ($1, $2)", {proposed.topic, std::int64_t{proposed.shards}});
    return put ? state::Status::success() : put.error();
  });
  if (!st.ok()) return st;
  return recorded;
}

sagas::Result<std::unique_ptr<PostgresStore>, state::Status> open_shard(const std::string& url, int shard,
                                                                const std::string& owner) {
  return PostgresStore::open({.url = url, .owner = owner, .read_only = false, .lock_wait_ms = 0,
                              .schema = shard_schema(shard), .take_over = true});
}

sagas::Result<std::unique_ptr<state::Store>, state::Status> open_cluster_view(const std::string& url, int shards) {
  auto view = std::make_unique<ClusterView>(url, shards);
  if (state::Status st = view->open(); !st.ok()) return st;
  return std::unique_ptr<state::Store>(std::move(view));
}

}  // namespace postgres
