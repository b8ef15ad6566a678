// SqliteReplyLog: a participant's durable memory of the replies it sent, by idempotency key,
// so a repeated command gets the same reply after the participant restarts. One SQLite file
// (WAL); each put is its own transaction, durable before the reply goes out.
//
// Not thread-safe: one owner.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "sagas/result.h"

namespace participant {

struct LoggedReply {
  bool success = true;
  std::string body;  // JSON text
};

class SqliteReplyLog {
 public:
  static sagas::Result<std::unique_ptr<SqliteReplyLog>> open(const std::string& path);
  ~SqliteReplyLog();
  SqliteReplyLog(const SqliteReplyLog&) = delete;
  SqliteReplyLog& operator=(const SqliteReplyLog&) = delete;

  std::optional<LoggedReply> find(const std::string& key);
  // False when the write failed (the caller should not reply: it may be retried).
  bool put(const std::string& key, const LoggedReply& reply);

 private:
  struct Impl;
  explicit SqliteReplyLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace participant
