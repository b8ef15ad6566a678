// One PostgreSQL connection (libpq) with its prepared statements, for the PostgreSQL store
// (internal to postgres/, the only room that includes libpq-fe.h).
// Not thread-safe: each thread that talks to the database has a connection of its own.
//
// Statements are sent with parameters in text form and prepared once per connection (keyed
// by the SQL literal's address, as the SQLite connection does). A connection the server
// dropped is re-established by the next call (reconnect()), which loses its prepared
// statements and its session state (an advisory lock): the store re-takes what it needs.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "state/store.h"

namespace postgres {

struct ConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct ResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnCloser>;
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;

// A statement's parameter: text, or a whole number (sent as its decimal text).
using Param = std::variant<std::string, std::int64_t>;

// The rows of a statement that succeeded.
class Rows {
 public:
  explicit Rows(ResultPtr r) : r_(std::move(r)) {}
  int size() const { return PQntuples(r_.get()); }
  bool empty() const { return size() == 0; }
  int columns() const { return PQnfields(r_.get()); }
  std::string_view text(int row, int col) const {
    return {PQgetvalue(r_.get(), row, col), static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
  }
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  std::int64_t int64(int row, int col) const;
  bool null(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  // How many rows an INSERT, UPDATE or DELETE touched.
  std::int64_t affected() const;

 private:
  ResultPtr r_;
};

// What the server said of a failed statement.
struct Diagnostics {
  std::string sqlstate;
  std::string detail;  // e.g. "Key (id)=(order-1) already exists."
};

// SQLSTATE of a unique violation (a saga id that exists).
inline constexpr std::string_view kUniqueViolation = "23505";
// SQLSTATE of a table that does not exist (a database sagactl has not set up).
inline constexpr std::string_view kUndefinedTable = "42P01";
// SQLSTATE of a lock not granted within lock_timeout.
inline constexpr std::string_view kLockNotAvailable = "55P03";

class Conn {
 public:
  // `url`: a libpq connection string or URL (postgres://user@host:port/db). `schema`, when
  // given, is the session's search_path (a cluster shard's tables), kept across reconnects.
  state::Status open(const std::string& url, const std::string& schema = {});
  PGconn* raw() const { return c_.get(); }
  // The database as errors name it: the URL without its password.
  const std::string& where() const { return where_; }

  // Runs a prepared statement. The error names the database and the server's reason, and
  // `diag` (when given) receives the server's SQLSTATE and detail.
  state::Result<Rows> run(const char* sql, std::initializer_list<Param> params = {}, Diagnostics* diag = nullptr);
  state::Result<Rows> run(const char* sql, const std::vector<Param>& params, Diagnostics* diag = nullptr);
  // The same for SQL assembled at run time (not prepared).
  state::Result<Rows> run_text(const std::string& sql, const std::vector<Param>& params);
  // Runs SQL with no parameters, perhaps several statements (the schema).
  state::Status exec(const char* sql);

  // A statement of a pipeline.
  struct Statement {
    const char* sql;  // prepared once per connection, as run()'s
    std::vector<Param> params;
  };
  // Sends `statements` at once and reads their answers (libpq's pipeline mode: one round
  // trip, however many statements). They hold no BEGIN: up to the pipeline's sync they are
  // one implicit transaction, committed there if every statement succeeded, rolled back
  // otherwise (the server skips what follows a failed one). The error is the first failed
  // statement's, or the lost connection's; `diag` receives the failed statement's SQLSTATE
  // and detail. `sent` (when given) says whether the whole pipeline, sync included, left
  // this process: with a connection lost after that, the outcome is unknown.
  // The connection stays blocking: the answers are a few small messages, so the server never
  // waits on us to read while we wait on it to read the statements.
  state::Result<std::vector<Rows>> pipeline(std::span<const Statement> statements, Diagnostics* diag = nullptr,
                                     bool* sent = nullptr);

  // Runs `body` in one transaction: all of it is committed, or none of it.
  // A connection lost inside it is never dialled again before the transaction ends: each
  // further statement fails, so no part of it can commit in a session of its own.
  template <typename Body>
  state::Status transaction(Body body) {
    if (state::Status st = exec("BEGIN"); !st.ok()) return st;
    in_transaction_ = true;
    state::Status st = body();
    if (st.ok()) st = exec("COMMIT");
    if (!st.ok() && !broken()) exec("ROLLBACK");
    in_transaction_ = false;
    return st;
  }

  // Whether the server dropped the connection; reconnect() dials again.
  bool broken() const { return c_ == nullptr || PQstatus(c_.get()) != CONNECTION_OK; }
  state::Status reconnect();

  state::Status fail(const std::string& what) const;

 private:
  state::Result<Rows> outcome(ResultPtr r, const std::string& what, Diagnostics* diag);
  // The statement's name on this connection; `fresh` when it still needs preparing.
  const std::string& statement_name(const char* sql, bool& fresh);
  // Reads one command's results up to its end (the null result); the last one is kept.
  ResultPtr next_command_result();
  // Sends the pipeline's messages; false when libpq could not (the connection's error).
  bool send_pipeline(std::span<const Statement> statements, std::vector<const char*>& preparing);
  template <typename Range>
  state::Result<Rows> run_prepared(const char* sql, const Range& params, Diagnostics* diag);
  // Dials again when the connection was lost, unless a transaction is open.
  state::Status ready();

  ConnPtr c_;
  std::string url_;
  std::string schema_;
  std::string where_;
  std::map<const char*, std::string> prepared_;  // SQL literal -> statement name
  std::int64_t statements_named_ = 0;
  bool in_transaction_ = false;
};


// A one-dimensional array literal of texts ({"a","b\"c",NULL}) for a text[] parameter.
std::string text_array(const std::vector<const std::string*>& items);
// The same of whole numbers ({1,2,3}).
std::string int_array(const std::vector<std::int64_t>& items);

}  // namespace postgres
