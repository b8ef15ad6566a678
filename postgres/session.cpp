#include "postgres/session.h"

namespace postgres {

state::Result<state::sql::Rows> Session::run(const char* sql, const std::vector<state::sql::Param>& params,
                                             std::string_view what) {
  std::vector<Param> bound;
  bound.reserve(params.size());
  for (const auto& p : params) std::visit([&](const auto& v) { bound.emplace_back(v); }, p);
  auto rows = conn_.run(sql, bound);
  if (!rows) {
    // Another owner's lock is reported as it is: the caller tells it from a failure.
    if (rows.error().code == state::Errc::locked) return rows.error();
    return state::Status{rows.error().code, std::string(what) + ": " + rows.error().message};
  }
  state::sql::Rows out;
  for (int r = 0; r < rows->size(); ++r) {
    auto& row = out.rows.emplace_back();
    for (int c = 0; c < rows->columns(); ++c) {
      if (rows->null(r, c)) {
        row.emplace_back(std::monostate{});
      } else {
        row.emplace_back(rows->str(r, c));
      }
    }
  }
  return out;
}

}  // namespace postgres
