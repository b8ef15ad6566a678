#include "state/pg_conn.h"

#include <charconv>
#include <regex>

namespace state::pg {

namespace {

// The texts and their pointers for libpq, alive as long as this object.
struct TextParams {
  std::vector<std::string> texts;
  std::vector<const char*> values;
  template <typename Range>
  explicit TextParams(const Range& params) {
    texts.reserve(params.size());
    for (const Param& p : params) {
      texts.push_back(std::holds_alternative<std::string>(p) ? std::get<std::string>(p)
                                                             : std::to_string(std::get<std::int64_t>(p)));
    }
    for (const auto& t : texts) values.push_back(t.c_str());
  }
  int size() const { return static_cast<int>(values.size()); }
};

std::string trimmed(const char* message) {
  std::string m = message == nullptr ? "" : message;
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

std::int64_t Rows::int64(int row, int col) const {
  auto t = text(row, col);
  std::int64_t v = 0;
  std::from_chars(t.data(), t.data() + t.size(), v);
  return v;
}

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n == nullptr || *n == '\0' ? 0 : std::stoll(n);
}

std::string redact(const std::string& url) {
  static const std::regex password(R"(^(postgres(?:ql)?://[^:/@]*):[^@]*@)");
  static const std::regex keyword(R"(password\s*=\s*\S+)");
  return std::regex_replace(std::regex_replace(url, password, "$1:***@"), keyword, "password=***");
}

Status Conn::open(const std::string& url, const std::string& schema) {
  url_ = url;
  schema_ = schema;
  where_ = redact(url) + (schema.empty() ? "" : " (schema " + schema + ")");
  return reconnect();
}

Status Conn::reconnect() {
  prepared_.clear();
  // The URL is expanded as the dbname; keywords after it override what it says.
  // Notices ("schema … already exists, skipping") are not for the orchestrator's output.
  std::string options = "-c client_min_messages=warning" + (schema_.empty() ? "" : " -c search_path=" + schema_);
  const char* keys[] = {"dbname", "options", nullptr};
  const char* values[] = {url_.c_str(), options.c_str(), nullptr};
  c_.reset(PQconnectdbParams(keys, values, 1));
  if (c_ == nullptr) return {Errc::io, "cannot connect to PostgreSQL at " + where_ + ": out of memory"};
  if (PQstatus(c_.get()) != CONNECTION_OK) {
    return {Errc::io, "cannot connect to PostgreSQL at " + where_ + ": " + trimmed(PQerrorMessage(c_.get())) +
                          "; check that the server runs, and the URL's host, port, user and database"};
  }
  return Status::success();
}

Status Conn::ready() {
  if (!broken()) return Status::success();
  if (in_transaction_) return {Errc::io, "the connection to PostgreSQL at " + where_ + " was lost in a transaction"};
  return reconnect();
}

Status Conn::fail(const std::string& what) const {
  return {Errc::io, what + " in PostgreSQL at " + where_ + ": " + trimmed(PQerrorMessage(c_.get()))};
}

Result<Rows> Conn::outcome(ResultPtr r, const std::string& what, Diagnostics* diag) {
  auto status = PQresultStatus(r.get());
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return Rows(std::move(r));
  if (diag != nullptr) {
    const char* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    const char* detail = PQresultErrorField(r.get(), PG_DIAG_MESSAGE_DETAIL);
    diag->sqlstate = code == nullptr ? "" : code;
    diag->detail = detail == nullptr ? "" : detail;
  }
  std::string reason = trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(c_.get()));
  if (reason.empty()) reason = trimmed(PQerrorMessage(c_.get()));
  return Status{Errc::io, what + " in PostgreSQL at " + where_ + ": " + reason};
}

template <typename Range>
Result<Rows> Conn::run_prepared(const char* sql, const Range& params, Diagnostics* diag) {
  if (Status st = ready(); !st.ok()) return st;
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "s" + std::to_string(prepared_.size());
    ResultPtr p(PQprepare(c_.get(), name.c_str(), sql, 0, nullptr));
    if (auto r = outcome(std::move(p), "cannot prepare a statement", diag); !r) return r.error();
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  TextParams tp(params);
  ResultPtr r(PQexecPrepared(c_.get(), it->second.c_str(), tp.size(), tp.values.data(), nullptr, nullptr, 0));
  return outcome(std::move(r), "a statement failed", diag);
}

Result<Rows> Conn::run(const char* sql, std::initializer_list<Param> params, Diagnostics* diag) {
  return run_prepared(sql, params, diag);
}

Result<Rows> Conn::run(const char* sql, const std::vector<Param>& params, Diagnostics* diag) {
  return run_prepared(sql, params, diag);
}

std::string text_array(const std::vector<const std::string*>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    if (items[i] == nullptr) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char ch : *items[i]) {
      if (ch == '"' || ch == '\\') out += '\\';
      out += ch;
    }
    out += '"';
  }
  return out + "}";
}

std::string int_array(const std::vector<std::int64_t>& items) {
  std::string out = "{";
  for (std::size_t i = 0; i < items.size(); ++i) out += (i > 0 ? "," : "") + std::to_string(items[i]);
  return out + "}";
}

Result<Rows> Conn::run_text(const std::string& sql, const std::vector<Param>& params) {
  if (Status st = ready(); !st.ok()) return st;
  TextParams tp(params);
  ResultPtr r(PQexecParams(c_.get(), sql.c_str(), tp.size(), nullptr, tp.values.data(), nullptr, nullptr, 0));
  return outcome(std::move(r), "a statement failed", nullptr);
}

Status Conn::exec(const char* sql) {
  if (Status st = ready(); !st.ok()) return st;
  ResultPtr r(PQexec(c_.get(), sql));
  auto out = outcome(std::move(r), "cannot run \"" + std::string(sql).substr(0, 40) + "\"", nullptr);
  return out ? Status::success() : out.error();
}

}  // namespace state::pg
