// A SQLite connection as a session of the shared journal queries (sql_journal.h). Internal
// to state/.
#pragma once

#include "state/sql_journal.h"
#include "state/sqlite_conn.h"

namespace state::sqlite {

class Session final : public sql::Session {
 public:
  explicit Session(Conn& conn) : conn_(conn) {}

  // Parameters are bound by name ($1, $2, ...), so a statement may use one twice or out of order.
  Result<sql::Rows> run(const char* sql, const std::vector<sql::Param>& params, std::string_view what) override;
  Status transaction(const std::function<Status()>& body) override { return conn_.transaction(body); }
  std::string where() const override { return conn_.path(); }
  std::string_view kind() const override { return "file"; }

 private:
  Conn& conn_;
};

}  // namespace state::sqlite
