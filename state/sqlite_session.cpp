#include "state/sqlite_session.h"

namespace state::sqlite {

Result<sql::Rows> Session::run(const char* sql, const std::vector<sql::Param>& params, std::string_view what) {
  Query s = conn_.stmt(sql);
  if (s == nullptr) return conn_.fail(std::string(what));
  for (std::size_t i = 0; i < params.size(); ++i) {
    int index = sqlite3_bind_parameter_index(s, ("$" + std::to_string(i + 1)).c_str());
    if (index == 0) continue;  // not used by this statement
    std::visit([&](const auto& v) { bind_arg(s, index, v); }, params[i]);
  }
  sql::Rows out;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    auto& row = out.rows.emplace_back();
    for (int c = 0; c < sqlite3_column_count(s); ++c) {
      switch (sqlite3_column_type(s, c)) {
        case SQLITE_NULL: row.emplace_back(std::monostate{}); break;
        case SQLITE_INTEGER: row.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(s, c))); break;
        default: row.emplace_back(std::string(text_of(s, c)));
      }
    }
  }
  if (rc != SQLITE_DONE) return conn_.fail(std::string(what));
  return out;
}

}  // namespace state::sqlite
