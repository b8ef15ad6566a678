#include "sagas/saga_id.h"

namespace sagas {

namespace {

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == '~' || c == '-';
}

// The id as it may be shown: its first characters, anything outside printable ASCII as \xNN.
std::string shown(std::string_view id) {
  constexpr std::size_t kShownBytes = 40;
  std::string out;
  for (std::size_t i = 0; i < id.size() && i < kShownBytes; ++i) {
    auto c = static_cast<unsigned char>(id[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return id.size() > kShownBytes ? out + "..." : out;
}

}  // namespace

std::optional<std::string> check_saga_id(std::string_view id) {
  const std::string rule = " (saga ids are " + std::string(kSagaIdRule) + ")";
  if (id.empty()) return "a saga id must not be empty" + rule;
  if (id.size() > kMaxSagaIdBytes) {
    return "saga id \"" + shown(id) + "\" is " + std::to_string(id.size()) + " bytes long" + rule;
  }
  for (unsigned char c : id) {
    if (!unreserved(c)) return "saga id \"" + shown(id) + "\" has a character outside the alphabet" + rule;
  }
  return std::nullopt;
}

}  // namespace sagas
