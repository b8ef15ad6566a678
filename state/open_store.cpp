#include "state/open_store.h"

#include "state/pg_cluster.h"
#include "state/pg_conn.h"
#include "state/postgres_store.h"
#include "state/sqlite_store.h"

namespace state {

sagas::Result<std::unique_ptr<Store>, Status> open_store(const StoreOptions& o) {
  if (is_postgres_url(o.state)) {
    // A cluster's database is read through the view over its shards; only its nodes write it.
    if (o.read_only) {
      auto shape = cluster_shape(o.state);
      if (!shape) return shape.error();
      if (*shape) return open_cluster_view(o.state, (*shape)->shards);
    }
    auto s = PostgresStore::open({.url = o.state, .owner = o.owner, .read_only = o.read_only,
                                  .lock_wait_ms = o.wait_for_owner ? -1 : PostgresOptions{}.lock_wait_ms, .schema = {},
                                  .take_over = false});
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(s).value());
  }
  auto s = SqliteStore::open({o.state, o.synchronous_full, o.read_only, o.wait_for_owner});
  if (!s) return s.error();
  return std::unique_ptr<Store>(std::move(s).value());
}

std::string describe_state(const std::string& state) { return is_postgres_url(state) ? pg::redact(state) : state; }

}  // namespace state
