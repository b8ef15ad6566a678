// PostgresStore: opening (schema, ownership), the commit and prune (its queries shared with
// SQLite in state/sql_journal.h). The reads are in store_reads.cpp, the tables in schema.cpp.
#include "postgres/session.h"
#include "postgres/store_impl.h"

namespace postgres {

bool is_postgres_url(const std::string& state) {
  return state.rfind("postgres://", 0) == 0 || state.rfind("postgresql://", 0) == 0;
}

PostgresStore::PostgresStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresStore::~PostgresStore() = default;

sagas::Result<std::unique_ptr<PostgresStore>, state::Status> PostgresStore::open(const PostgresOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->url = options.url;
  impl->owner = options.owner;
  impl->schema = options.schema;
  impl->take_over = options.take_over;
  if (state::Status st = impl->reader.open(options.url, options.schema); !st.ok()) return st;
  if (options.read_only) {
    Diagnostics diag;
    auto version = impl->reader.run("SELECT version FROM sagactl_schema", {}, &diag);
    if (!version && diag.sqlstate == kUndefinedTable) {
      return state::Status{state::Errc::not_found, impl->reader.where() + " holds no sagactl state (has an orchestrator run with it?)"};
    }
    if (!version) return version.error();
    if (version->empty() || version->int64(0, 0) != kSchemaVersion) {
      return state::Status{state::Errc::corrupt, impl->reader.where() + " has a sagactl schema this sagactl does not read (" +
                                       (version->empty() ? std::string("none") : version->str(0, 0)) + "; it reads " +
                                       std::to_string(kSchemaVersion) + ")"};
    }
    return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
  }
  if (state::Status st = impl->writer.open(options.url, options.schema); !st.ok()) return st;
  if (state::Status st = impl->migrate(); !st.ok()) return st;
  if (state::Status st = impl->take_ownership(options.lock_wait_ms); !st.ok()) return st;
  return std::unique_ptr<PostgresStore>(new PostgresStore(std::move(impl)));
}

std::int64_t PostgresStore::epoch() const { return impl_->epoch; }

state::Result<std::unique_ptr<state::Store>> PostgresStore::open_reader() {
  auto reader = open({.url = impl_->url, .owner = {}, .read_only = true, .lock_wait_ms = 0, .schema = impl_->schema,
                      .take_over = false});
  if (!reader) return reader.error();
  return std::unique_ptr<state::Store>(std::move(reader).value());
}

state::Status PostgresStore::commit(std::span<state::Commit> batch, state::Position delivered) {
  auto& d = *impl_;
  if (batch.empty() && delivered <= d.delivered) return state::Status::success();
  if (d.writer.broken()) {
    if (state::Status st = d.regain(); !st.ok()) return st;
  }
  state::Position pos = d.last;
  state::Position watermark = std::min(std::max(delivered, d.delivered), d.last + static_cast<state::Position>(batch.size()));
  state::journal::BatchMemory memory(d.known);
  Impl::Rowset rows;
  for (auto& c : batch) Impl::plan(c, ++pos, memory, rows);
  // One round trip: the position moved first (the owner's row stays locked to the end, so a
  // takeover waits for this commit, or this commit sees the new epoch and writes nothing),
  // then the rows; all in the pipeline's one transaction.
  std::vector<Conn::Statement> statements;
  statements.push_back({"SELECT sagactl_advance($1, $2, $3)", {pos, watermark, d.epoch}});
  Impl::add_writes(rows, statements);
  Diagnostics diag;
  bool sent = false;  // all of it left this process: lost now, the outcome is unknown
  auto done = d.writer.pipeline(statements, &diag, &sent);
  // Lost before the answer, the transaction may have happened: the journal says whether.
  if (!done && !(sent && d.writer.broken() && d.committed_anyway(pos, watermark))) {
    return d.refused(done.error(), diag);
  }
  for (std::size_t i = 0; i < batch.size(); ++i) batch[i].position = d.last + 1 + static_cast<state::Position>(i);
  d.last = pos;
  d.delivered = watermark;
  memory.keep();
  return state::Status::success();
}

state::Result<std::size_t> PostgresStore::prune(sagas::TimeMs before, std::size_t max_sagas, sagas::TimeMs now) {
  auto& r = impl_->writer;  // the committing connection: the engine prunes on its writer thread, between commits
  Session session(r);
  // The owner's row first, shared: a fenced owner deletes nothing, and since every commit
  // starts by updating that row, a commit in progress finishes before this goes on and later
  // ones wait until it is done. So the two never change the same count rows at once (no
  // deadlock between the writer's count updates and these deletions).
  return state::sql::prune(session, before, max_sagas, now, [&]() -> state::Status {
    auto mine = r.run("SELECT epoch, owner FROM journal_state FOR SHARE");
    if (!mine || mine->empty()) return mine ? r.fail("cannot read the journal's owner") : mine.error();
    if (mine->int64(0, 0) != impl_->epoch) return impl_->fenced(mine->int64(0, 0), mine->str(0, 1));
    return state::Status::success();
  });
}

}  // namespace postgres
