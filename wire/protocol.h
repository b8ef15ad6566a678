// The wire protocol of docs/protocol.md, shared by every transport and by participants: the headers
// of a command, how a reply is read (and why one is refused), and the W3C trace context.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "wire/transport.h"
#include "sagas/definition.h"
#include "sagas/json.h"
#include "sagas/machine.h"
#include "sagas/result.h"

namespace wire {

namespace header {
inline constexpr std::string_view kSagaId = "saga-id";
inline constexpr std::string_view kSagaName = "saga-name";
inline constexpr std::string_view kSagaVersion = "saga-version";
inline constexpr std::string_view kStep = "saga-step";
inline constexpr std::string_view kAction = "saga-action";
inline constexpr std::string_view kCommand = "saga-command";
inline constexpr std::string_view kMessageId = "message-id";
inline constexpr std::string_view kIdempotencyKey = "idempotency-key";
inline constexpr std::string_view kReplyTo = "reply-to";
inline constexpr std::string_view kAttempt = "attempt";
inline constexpr std::string_view kTraceparent = "traceparent";
// When the orchestrator gives the attempt up (RFC 3339 UTC, milliseconds): a participant
// skips a command it receives later, unanswered (the attempt is already timed out).
inline constexpr std::string_view kExpiresAt = "expires-at";
inline constexpr std::string_view kInReplyTo = "in-reply-to";
inline constexpr std::string_view kOutcome = "outcome";
inline constexpr std::string_view kError = "error";
inline constexpr std::string_view kTruncated = "truncated";
// A lifecycle event's type, on the events topic.
inline constexpr std::string_view kEvent = "event";
// The partition of `reply-to` a reply goes to (decimal text), set by a cluster on commands
// whose replies its shard's owner reads; absent: the producer's partitioner, by key.
inline constexpr std::string_view kReplyPartition = "reply-partition";
// Spring Kafka's ReplyingKafkaTemplate convention for the same (a 4-byte big-endian int),
// accepted from commands as ours is.
inline constexpr std::string_view kSpringReplyPartition = "kafka_replyPartition";
}  // namespace header

// The partition a command asks its reply to go to: `reply-partition` (decimal), else
// `kafka_replyPartition` (4 bytes big-endian, or decimal). None when absent or not a
// partition number: the reply then goes by key.
std::optional<int> reply_partition(const Message& command);

// The command message for one SendCommand of a saga instance: keyed by saga id, every
// header of docs/protocol.md, the rendered payload as JSON.
Message command_message(const sagas::Definition& def, const std::string& saga_id, const sagas::SendCommand& send);

// The command's `expires-at`, in ms since the epoch; none when absent or not RFC 3339.
std::optional<sagas::TimeMs> expires_at(const Message& command);

// W3C traceparent: one trace per saga (from its id), one span per step attempt (from the
// message id). Deterministic, so a resent command carries the same context.
std::string traceparent(std::string_view saga_id, std::string_view message_id);

// A reply as read off the wire, before it is matched to a saga.
struct Reply {
  std::string saga_id;
  std::string step;
  sagas::CommandKind kind = sagas::CommandKind::execute;
  std::string in_reply_to;
  bool success = true;
  sagas::Json body;
};

// Reads a reply; the error says what is wrong with it (it goes to the dead-letter topic in
// the `error` header).
sagas::Result<Reply> parse_reply(const Message& m);

// The reply a participant sends to a command: to its `reply-to` topic, on its
// reply_partition() when it names one.
Message reply_message(const Message& command, bool success, const sagas::Json& body);

// RFC 3339 UTC with milliseconds: 2026-11-23T07:41:43.840Z.
std::string format_time(sagas::TimeMs ms);
// The same, appended to `out`.
void append_time(std::string& out, sagas::TimeMs ms);
// The inverse of format_time (any number of fraction digits, 'Z' only); none if malformed.
std::optional<sagas::TimeMs> parse_time(std::string_view text);

// A lifecycle event as published on the events topic.
Message event_message(const std::string& topic, const std::string& saga_id, const std::string& saga, int version,
                      sagas::EventType type, const std::string& step, const std::string& detail, sagas::TimeMs at);

// A start request read off the start topic.
struct StartRequest {
  std::string saga;
  std::optional<std::string> id;
  sagas::Json input;
};
sagas::Result<StartRequest> parse_start(const Message& m);

// The dead-letter copy of a message: same key, value and headers, plus `error`.
// A copy of `m` for `dlq_topic` with an `error` header; a value too large to deliver within
// `max_bytes` (0: no limit) is cut, with a `truncated` header saying so.
Message dead_letter(const Message& m, const std::string& dlq_topic, const std::string& error, std::size_t max_bytes = 0);

}  // namespace wire
