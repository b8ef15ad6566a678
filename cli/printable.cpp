#include "cli/printable.h"

namespace cli {

namespace {
constexpr std::string_view kContinuation = "\n    ";
}  // namespace

std::string printable(std::string_view text, bool continue_lines) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f) {
      out += ch;
    } else if (c == '\t') {
      out += ch;
    } else if (c == '\n') {
      out += continue_lines ? kContinuation : std::string_view("\\n");
    } else if (c == '\r') {
      out += "\\r";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace cli
