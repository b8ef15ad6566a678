#include "wire/protocol.h"

#include <algorithm>
#include <charconv>
#include <limits>

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace wire {

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

// The headers of a command (expires-at included).
constexpr std::size_t kCommandHeaders = 12;

void append_hex64(std::string& out, std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) out += kDigits[(v >> shift) & 0xF];
}

}  // namespace

std::string traceparent(std::string_view saga_id, std::string_view message_id) {
  // 00-<32 hex trace id>-<16 hex span id>-01
  constexpr std::size_t kLength = 55;
  std::string out;
  out.reserve(kLength);
  out += "00-";
  append_hex64(out, fnv1a(saga_id, 1));
  append_hex64(out, fnv1a(saga_id, 2));
  out += '-';
  append_hex64(out, fnv1a(message_id, 3));
  out += "-01";
  return out;
}

Message command_message(const sagas::Definition& def, const std::string& saga_id, const sagas::SendCommand& send) {
  Message m;
  m.topic = send.topic;
  m.key = saga_id;
  m.value = send.payload.value_or_null().dump();
  // Emplaced, not listed: an initializer list's strings would be copied once more.
  m.headers.reserve(kCommandHeaders);
  auto add = [&](std::string_view name, std::string value) { m.headers.emplace_back(std::string(name), std::move(value)); };
  add(header::kSagaId, saga_id);
  add(header::kSagaName, def.name);
  add(header::kSagaVersion, std::to_string(def.version));
  add(header::kStep, def.step(send.step).name);
  add(header::kAction, std::string(sagas::to_string(send.kind)));
  add(header::kCommand, send.command);
  add(header::kMessageId, send.message_id);
  add(header::kIdempotencyKey, send.idempotency_key);
  add(header::kReplyTo, def.reply_topic);
  add(header::kAttempt, std::to_string(send.attempt.value()));
  add(header::kTraceparent, traceparent(saga_id, send.message_id));
  if (send.expires_at > 0) m.headers.emplace_back(std::string(header::kExpiresAt), format_time(send.expires_at));
  return m;
}

sagas::Result<Reply> parse_reply(const Message& m) {
  Reply r;
  auto need = [&](std::string_view name, std::string& out) -> std::optional<sagas::Error> {
    const std::string* v = m.header(name);
    if (v == nullptr || v->empty()) {
      return sagas::Error{"missing header \"" + std::string(name) + "\""};
    }
    auto copies = std::count_if(m.headers.begin(), m.headers.end(), [&](const auto& h) { return h.first == name; });
    if (copies > 1) {
      return sagas::Error{"header \"" + std::string(name) + "\" appears " + std::to_string(copies) +
                          " times; a reply carries each header once"};
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
  if (!m.key.empty() && m.key != r.saga_id) {
    return sagas::Error{"the key \"" + m.key + "\" and header \"saga-id\" \"" + r.saga_id +
                        "\" name different sagas; a reply is keyed by the command's key, the saga id"};
  }
  if (m.value.empty()) {
    r.body = Json::object();
  } else {
    auto body = Json::parse(m.value);
    if (!body) return sagas::Error{"the value is not JSON: " + body.error().message};
    if (!body->is_object()) {
      return sagas::Error{"the value is JSON but not an object; a reply's value is a JSON object (or empty)"};
    }
    r.body = std::move(*body);
  }
  return r;
}

namespace {

// A partition number in decimal text: digits only, within an int32 (from_chars refuses the
// rest, empty text included).
std::optional<int> decimal_partition(std::string_view text) {
  std::int32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

}  // namespace

std::optional<int> reply_partition(const Message& command) {
  if (const std::string* ours = command.header(header::kReplyPartition)) return decimal_partition(*ours);
  const std::string* spring = command.header(header::kSpringReplyPartition);
  if (spring == nullptr) return std::nullopt;
  constexpr std::size_t kIntBytes = 4;
  if (spring->size() == kIntBytes) {
    std::uint32_t value = 0;
    for (unsigned char byte : *spring) value = (value << 8) | byte;
    if (value > static_cast<std::uint32_t>(std::numeric_limits<std::int32_t>::max())) return std::nullopt;
    return static_cast<int>(value);
  }
  return decimal_partition(*spring);
}

Message reply_message(const Message& command, bool success, const Json& body) {
  Message r;
  const std::string* reply_to = command.header(header::kReplyTo);
  r.topic = reply_to ? *reply_to : std::string();
  if (auto partition = reply_partition(command)) r.partition = *partition;
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

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms):
// every command carries a time, so no locale, time zone or libc formatting on this path.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

constexpr std::int64_t kMsPerDay = 86'400'000;

void put_digits(char* out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) out[i] = static_cast<char>('0' + value % 10);
}

// The number in text[at, at + width), all digits; -1 otherwise.
int digits(std::string_view text, std::size_t at, std::size_t width) {
  int v = 0;
  for (std::size_t i = at; i < at + width; ++i) {
    if (i >= text.size() || text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

}  // namespace

void append_time(std::string& out, sagas::TimeMs ms) {
  std::int64_t days = ms >= 0 ? ms / kMsPerDay : (ms - kMsPerDay + 1) / kMsPerDay;
  std::int64_t in_day = ms - days * kMsPerDay;
  Civil c = civil_from_days(days);
  std::size_t at = out.size();
  out += "0000-00-00T00:00:00.000Z";
  char* p = out.data() + at;
  put_digits(p, c.year, 4);
  put_digits(p + 5, c.month, 2);
  put_digits(p + 8, c.day, 2);
  put_digits(p + 11, in_day / 3'600'000, 2);
  put_digits(p + 14, in_day / 60'000 % 60, 2);
  put_digits(p + 17, in_day / 1000 % 60, 2);
  put_digits(p + 20, in_day % 1000, 3);
}

std::string format_time(sagas::TimeMs ms) {
  std::string out;
  append_time(out, ms);
  return out;
}

std::optional<sagas::TimeMs> parse_time(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction]Z, as format_time writes it (a fraction of any length).
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  int year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  int hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 || minute < 0 ||
      minute > 59 || second < 0 || second > 60) {
    return std::nullopt;
  }
  std::size_t i = 19;
  int millis = 0;
  if (text[i] == '.') {
    int count = 0;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++count) {
      if (count < 3) millis = millis * 10 + (text[i] - '0');
    }
    if (count == 0) return std::nullopt;
    for (; count < 3; ++count) millis *= 10;
  }
  if (i + 1 != text.size() || (text[i] != 'Z' && text[i] != 'z')) return std::nullopt;
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * kMsPerDay +
         ((hour * 60 + minute) * 60 + second) * std::int64_t{1000} + millis;
}

std::optional<sagas::TimeMs> expires_at(const Message& command) {
  const std::string* v = command.header(header::kExpiresAt);
  return v == nullptr ? std::nullopt : parse_time(*v);
}

Message event_message(const std::string& topic, const std::string& saga_id, const std::string& saga, int version,
                      sagas::EventType event, const std::string& step, const std::string& detail, sagas::TimeMs at) {
  // Rendered straight to its text, in this order of fields: an event per transition is on
  // the hot path, and a JSON tree of it would cost an allocation per field.
  constexpr std::size_t kFixedBytes = 128;  // the field names, the version, the time
  const std::string_view type = sagas::to_string(event);
  Message m;
  m.topic = topic;
  m.key = saga_id;
  m.headers.reserve(2);
  m.headers.emplace_back(std::string(header::kSagaId), saga_id);
  m.headers.emplace_back(std::string(header::kEvent), std::string(type));
  std::string& v = m.value;
  v.reserve(kFixedBytes + saga_id.size() + saga.size() + type.size() + step.size() + detail.size());
  v += "{\"saga_id\":";
  sagas::append_json_string(v, saga_id);
  v += ",\"saga\":";
  sagas::append_json_string(v, saga);
  v += ",\"version\":";
  v += std::to_string(version);
  v += ",\"type\":";
  sagas::append_json_string(v, type);
  v += ",\"step\":";
  if (step.empty()) {
    v += "null";
  } else {
    sagas::append_json_string(v, step);
  }
  v += ",\"detail\":";
  sagas::append_json_string(v, detail);
  v += ",\"at\":\"";
  append_time(v, at);
  v += "\"}";
  return m;
}

sagas::Result<StartRequest> parse_start(const Message& m) {
  StartRequest r;
  const std::string* name = m.header(header::kSagaName);
  if (name == nullptr || name->empty()) return sagas::Error{"missing header \"saga-name\""};
  r.saga = *name;
  if (const std::string* id = m.header(header::kSagaId); id && !id->empty()) {
    r.id = *id;
  } else if (const std::string* key = m.header(header::kIdempotencyKey); key && !key->empty()) {
    r.id = *key;
  }
  auto input = Json::parse(m.value.empty() ? std::string_view("{}") : std::string_view(m.value));
  if (!input) return sagas::Error{"the value is not JSON: " + input.error().message};
  r.input = std::move(*input);
  return r;
}

Message dead_letter(const Message& m, const std::string& dlq_topic, const std::string& error, std::size_t max_bytes) {
  constexpr std::size_t kHeaderBytes = 4096;  // the original's headers and ours, generously
  Message d = m;
  d.topic = dlq_topic;
  d.partition = Message::kAnyPartition;
  d.headers.emplace_back(std::string(header::kError), error);
  if (max_bytes > kHeaderBytes && d.value.size() + d.key.size() > max_bytes - kHeaderBytes) {
    // A copy that cannot be delivered helps no one: its start is kept, and the cut is said.
    std::size_t keep = max_bytes - kHeaderBytes - std::min(d.key.size(), max_bytes - kHeaderBytes);
    d.headers.emplace_back(std::string(header::kTruncated), "value cut to " + std::to_string(keep) + " of " +
                                                                std::to_string(d.value.size()) + " bytes");
    d.value.resize(keep);
  }
  return d;
}

}  // namespace wire
