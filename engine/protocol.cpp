#include "engine/protocol.h"

#include <cstdint>
#include <cstdio>

namespace saga::protocol {

using sagas::CommandKind;
using sagas::Json;

namespace {

std::uint64_t fnv1a(std::string_view s, std::uint64_t seed) {
  std::uint64_t h = 14695981039346656037ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h == 0 ? 1 : h;  // an all-zero id is invalid in W3C trace context
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string traceparent(std::string_view saga_id, std::string_view message_id) {
  return "00-" + hex64(fnv1a(saga_id, 1)) + hex64(fnv1a(saga_id, 2)) + "-" + hex64(fnv1a(message_id, 3)) + "-01";
}

Message command_message(const sagas::Definition& def, const std::string& saga_id, const sagas::SendCommand& send) {
  Message m;
  m.topic = send.topic;
  m.key = saga_id;
  m.value = send.payload.dump();
  m.headers = {
      {std::string(header::kSagaId), saga_id},
      {std::string(header::kSagaName), def.name},
      {std::string(header::kSagaVersion), std::to_string(def.version)},
      {std::string(header::kStep), def.step(send.step).name},
      {std::string(header::kAction), std::string(sagas::to_string(send.kind))},
      {std::string(header::kCommand), send.command},
      {std::string(header::kMessageId), send.message_id},
      {std::string(header::kIdempotencyKey), send.idempotency_key},
      {std::string(header::kReplyTo), def.reply_topic},
      {std::string(header::kAttempt), std::to_string(send.attempt)},
      {std::string(header::kTraceparent), traceparent(saga_id, send.message_id)},
  };
  return m;
}

sagas::Result<Reply> parse_reply(const Message& m) {
  Reply r;
  auto need = [&](std::string_view name, std::string& out) -> std::optional<sagas::Error> {
    const std::string* v = m.header(name);
    if (v == nullptr || v->empty()) {
      return sagas::Error{"missing header \"" + std::string(name) + "\""};
    }
    out = *v;
    return std::nullopt;
  };
  std::string action;
  std::string outcome;
  for (auto [name, out] : {std::pair{header::kSagaId, &r.saga_id}, {header::kStep, &r.step},
                           {header::kAction, &action}, {header::kInReplyTo, &r.in_reply_to},
                           {header::kOutcome, &outcome}}) {
    if (auto e = need(name, *out)) return *e;
  }
  auto kind = sagas::command_kind_from(action);
  if (!kind) return sagas::Error{"header \"saga-action\" is \"" + action + "\"; it must be execute or compensate"};
  r.kind = *kind;
  if (outcome != "success" && outcome != "failure") {
    return sagas::Error{"header \"outcome\" is \"" + outcome + "\"; it must be success or failure"};
  }
  r.success = outcome == "success";
  if (m.value.empty()) {
    r.body = Json::object();
  } else {
    auto body = Json::parse(m.value);
    if (!body) return sagas::Error{"the value is not JSON: " + body.error().message};
    r.body = std::move(*body);
  }
  return r;
}

Message reply_message(const Message& command, bool success, const Json& body) {
  Message r;
  const std::string* reply_to = command.header(header::kReplyTo);
  r.topic = reply_to ? *reply_to : std::string();
  r.key = command.key;
  r.value = body.dump();
  auto copy = [&](std::string_view from, std::string_view to) {
    if (const std::string* v = command.header(from)) r.headers.emplace_back(std::string(to), *v);
  };
  copy(header::kSagaId, header::kSagaId);
  copy(header::kStep, header::kStep);
  copy(header::kAction, header::kAction);
  copy(header::kMessageId, header::kInReplyTo);
  copy(header::kTraceparent, header::kTraceparent);
  r.headers.emplace_back(std::string(header::kOutcome), success ? "success" : "failure");
  return r;
}

Message dead_letter(const Message& m, const std::string& dlq_topic, const std::string& error) {
  Message d = m;
  d.topic = dlq_topic;
  d.headers.emplace_back(std::string(header::kError), error);
  return d;
}

}  // namespace saga::protocol
