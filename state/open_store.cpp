#include "state/open_store.h"

#include "state/pg_conn.h"
#include "state/postgres_store.h"
#include "state/sqlite_store.h"

namespace state {

sagas::Result<std::unique_ptr<Store>, Status> open_store(const StoreOptions& o) {
  if (is_postgres_url(o.state)) {
    auto s = PostgresStore::open({o.state, o.owner, o.read_only, o.wait_for_owner ? -1 : PostgresOptions{}.lock_wait_ms});
    if (!s) return s.error();
    return std::unique_ptr<Store>(std::move(s).value());
  }
  auto s = SqliteStore::open({o.state, o.synchronous_full, o.read_only, o.wait_for_owner});
  if (!s) return s.error();
  return std::unique_ptr<Store>(std::move(s).value());
}

std::string describe_state(const std::string& state) { return is_postgres_url(state) ? pg::redact(state) : state; }

}  // namespace state
