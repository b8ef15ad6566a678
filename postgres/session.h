// A PostgreSQL connection as a session of the shared journal queries (state/sql_journal.h).
// Internal to postgres/.
#pragma once

#include "postgres/conn.h"
#include "state/sql_journal.h"

namespace postgres {

class Session final : public state::sql::Session {
 public:
  explicit Session(Conn& conn) : conn_(conn) {}

  state::Result<state::sql::Rows> run(const char* sql, const std::vector<state::sql::Param>& params,
                                      std::string_view what) override;
  state::Status transaction(const std::function<state::Status()>& body) override { return conn_.transaction(body); }
  std::string where() const override { return conn_.where(); }
  std::string_view kind() const override { return "database"; }

 private:
  Conn& conn_;
};

}  // namespace postgres
