#include "cli/open_store.h"

#include "postgres/cluster.h"
#include "postgres/store.h"
#include "state/sqlite_store.h"

namespace cli {

sagas::Result<std::unique_ptr<state::Store>, state::Status> open_store(const StoreOptions& o) {
  if (postgres::is_postgres_url(o.state)) {
    // A cluster's database is read through the view over its shards; only its nodes write it.
    if (o.read_only) {
      auto shape = postgres::cluster_shape(o.state);
      if (!shape) return shape.error();
      if (*shape) return postgres::open_cluster_view(o.state, (*shape)->shards);
    }
    auto s = postgres::PostgresStore::open({.url = o.state, .owner = o.owner, .read_only = o.read_only,
                                  .lock_wait_ms = o.wait_for_owner ? -1 : postgres::PostgresOptions{}.lock_wait_ms, .schema = {},
                                  .take_over = false});
    if (!s) return s.error();
    return std::unique_ptr<state::Store>(std::move(s).value());
  }
  auto s = state::SqliteStore::open({o.state, o.synchronous_full, o.read_only, o.wait_for_owner});
  if (!s) return s.error();
  return std::unique_ptr<state::Store>(std::move(s).value());
}

std::string describe_state(const std::string& state) { return postgres::is_postgres_url(state) ? postgres::redact(state) : state; }

}  // namespace cli
