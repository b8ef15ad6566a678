#include "postgres/conn.h"
#include "postgres/store.h"

#include <charconv>
#include <optional>
#include <regex>

namespace postgres {

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

state::Status Conn::open(const std::string& url, const std::string& schema) {
  url_ = url;
  schema_ = schema;
  where_ = redact(url) + (schema.empty() ? "" : " (schema " + schema + ")");
  return reconnect();
}

state::Status Conn::reconnect() {
  prepared_.clear();
  // The URL is expanded as the dbname; keywords after it override what it says.
  // Notices ("schema … already exists, skipping") are not for the orchestrator's output.
  std::string options = "-c client_min_messages=warning" + (schema_.empty() ? "" : " -c search_path=" + schema_);
  const char* keys[] = {"dbname", "options", nullptr};
  const char* values[] = {url_.c_str(), options.c_str(), nullptr};
  c_.reset(PQconnectdbParams(keys, values, 1));
  if (c_ == nullptr) return {state::Errc::io, "cannot connect to PostgreSQL at " + where_ + ": out of memory"};
  if (PQstatus(c_.get()) != CONNECTION_OK) {
    return {state::Errc::io, "cannot connect to PostgreSQL at " + where_ + ": " + trimmed(PQerrorMessage(c_.get())) +
                          "; check that the server runs, and the URL's host, port, user and database"};
  }
  return state::Status::success();
}

state::Status Conn::ready() {
  if (!broken()) return state::Status::success();
  if (in_transaction_) return {state::Errc::io, "the connection to PostgreSQL at " + where_ + " was lost in a transaction"};
  return reconnect();
}

state::Status Conn::fail(const std::string& what) const {
  return {state::Errc::io, what + " in PostgreSQL at " + where_ + ": " + trimmed(PQerrorMessage(c_.get()))};
}

state::Result<Rows> Conn::outcome(ResultPtr r, const std::string& what, Diagnostics* diag) {
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
  return state::Status{state::Errc::io, what + " in PostgreSQL at " + where_ + ": " + reason};
}

template <typename Range>
state::Result<Rows> Conn::run_prepared(const char* sql, const Range& params, Diagnostics* diag) {
  if (state::Status st = ready(); !st.ok()) return st;
  bool fresh = false;
  const std::string& name = statement_name(sql, fresh);
  if (fresh) {
    ResultPtr p(PQprepare(c_.get(), name.c_str(), sql, 0, nullptr));
    if (auto r = outcome(std::move(p), "cannot prepare a statement", diag); !r) {
      prepared_.erase(sql);
      return r.error();
    }
  }
  TextParams tp(params);
  ResultPtr r(PQexecPrepared(c_.get(), name.c_str(), tp.size(), tp.values.data(), nullptr, nullptr, 0));
  return outcome(std::move(r), "a statement failed", diag);
}

const std::string& Conn::statement_name(const char* sql, bool& fresh) {
  auto [it, added] = prepared_.try_emplace(sql);
  fresh = added;
  if (added) it->second = "s" + std::to_string(++statements_named_);
  return it->second;
}

bool Conn::send_pipeline(std::span<const Statement> statements, std::vector<const char*>& preparing) {
  if (PQenterPipelineMode(c_.get()) != 1) return false;
  for (const auto& st : statements) {
    bool fresh = false;
    const std::string& name = statement_name(st.sql, fresh);
    if (fresh) {
      preparing.push_back(st.sql);
      if (PQsendPrepare(c_.get(), name.c_str(), st.sql, 0, nullptr) != 1) return false;
    }
    TextParams tp(st.params);
    if (PQsendQueryPrepared(c_.get(), name.c_str(), tp.size(), tp.values.data(), nullptr, nullptr, 0) != 1) {
      return false;
    }
  }
  return PQpipelineSync(c_.get()) == 1;
}

ResultPtr Conn::next_command_result() {
  ResultPtr last;
  while (ResultPtr r{PQgetResult(c_.get())}) last = std::move(r);
  return last;
}

state::Result<std::vector<Rows>> Conn::pipeline(std::span<const Statement> statements, Diagnostics* diag, bool* sent) {
  if (sent != nullptr) *sent = false;
  if (state::Status st = ready(); !st.ok()) return st;
  std::vector<const char*> preparing;  // statements prepared by this pipeline, in order
  if (!send_pipeline(statements, preparing)) {
    for (const char* sql : preparing) prepared_.erase(sql);
    state::Status failed = fail("cannot send statements");
    c_.reset();  // half a pipeline may be on its way: the next call starts a new session
    return failed;
  }
  if (sent != nullptr) *sent = true;
  std::vector<Rows> rows;
  std::optional<state::Status> first_error;
  // One command's answer: its rows, or nothing (failed, or skipped after a failure). False
  // when the connection gave none: nothing more can be read.
  auto take = [&](ResultPtr r, const char* what, std::vector<Rows>* into) -> bool {
    if (!r) {
      if (!first_error) first_error = fail("the connection was lost awaiting a pipeline's answer");
      return false;
    }
    if (PQresultStatus(r.get()) == PGRES_PIPELINE_ABORTED) return true;
    auto out = outcome(std::move(r), what, first_error ? nullptr : diag);
    if (!out) {
      if (!first_error) first_error = out.error();
    } else if (into != nullptr) {
      into->push_back(std::move(out).value());
    }
    return true;
  };
  std::size_t next_prepared = 0;
  bool readable = true;
  for (const auto& st : statements) {
    if (!readable) break;
    if (next_prepared < preparing.size() && preparing[next_prepared] == st.sql) {
      ++next_prepared;
      ResultPtr prepared = next_command_result();
      if (!prepared || PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) prepared_.erase(st.sql);
      readable = take(std::move(prepared), "cannot prepare a statement", nullptr);
      if (!readable) break;
    }
    readable = take(next_command_result(), "a statement failed", &rows);
  }
  for (std::size_t i = next_prepared; i < preparing.size(); ++i) prepared_.erase(preparing[i]);
  // The sync's own result ends the pipeline.
  if (readable) {
    ResultPtr sync{PQgetResult(c_.get())};
    if (!sync || PQresultStatus(sync.get()) != PGRES_PIPELINE_SYNC) {
      if (!first_error) first_error = fail("a pipeline ended without its sync");
      readable = false;
    }
  }
  if (!readable || PQexitPipelineMode(c_.get()) != 1) c_.reset();  // a session in an unknown state
  if (first_error) return *first_error;
  return rows;
}

state::Result<Rows> Conn::run(const char* sql, std::initializer_list<Param> params, Diagnostics* diag) {
  return run_prepared(sql, params, diag);
}

state::Result<Rows> Conn::run(const char* sql, const std::vector<Param>& params, Diagnostics* diag) {
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

state::Result<Rows> Conn::run_text(const std::string& sql, const std::vector<Param>& params) {
  if (state::Status st = ready(); !st.ok()) return st;
  TextParams tp(params);
  ResultPtr r(PQexecParams(c_.get(), sql.c_str(), tp.size(), nullptr, tp.values.data(), nullptr, nullptr, 0));
  return outcome(std::move(r), "a statement failed", nullptr);
}

state::Status Conn::exec(const char* sql) {
  if (state::Status st = ready(); !st.ok()) return st;
  ResultPtr r(PQexec(c_.get(), sql));
  auto out = outcome(std::move(r), "cannot run \"" + std::string(sql).substr(0, 40) + "\"", nullptr);
  return out ? state::Status::success() : out.error();
}

}  // namespace postgres
