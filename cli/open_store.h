// The store a `state:` setting names: a PostgreSQL database for postgres://… and
// postgresql://… URLs, otherwise a SQLite file (the embedded default).
#pragma once

#include <memory>
#include <string>

#include "sagas/result.h"
#include "state/store.h"

namespace cli {

struct StoreOptions {
  std::string state;             // a file path or a PostgreSQL URL
  bool synchronous_full = true;  // SQLite: FULL rather than NORMAL
  bool read_only = false;        // the CLI's views: no lock, no ownership, nothing written
  std::string owner;             // PostgreSQL: who holds it, told to a refused second orchestrator
  // Wait for another orchestrator's hold on the store to end, however long, instead of
  // refusing (after a few seconds for PostgreSQL, at once for SQLite): a hot standby.
  bool wait_for_owner = false;
};

sagas::Result<std::unique_ptr<state::Store>, state::Status> open_store(const StoreOptions& options);

// The setting as messages show it (a URL without its password).
std::string describe_state(const std::string& state);

}  // namespace cli
