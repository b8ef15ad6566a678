#include "dsl/duration.h"

#include <cstdint>

namespace dsl {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  constexpr std::int64_t kMaxMillis = 10LL * 366 * 24 * 3600 * 1000;
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    std::int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > kMaxMillis) return std::nullopt;
      ++i;
    }
    std::string_view rest = text.substr(i);
    std::int64_t unit = 0;
    if (rest.starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (rest.starts_with("s")) {
      unit = 1000;
      i += 1;
    } else if (rest.starts_with("m")) {
      unit = 60 * 1000;
      i += 1;
    } else if (rest.starts_with("h")) {
      unit = 3600 * 1000;
      i += 1;
    } else if (rest.starts_with("d")) {
      unit = 24 * 3600 * 1000;
      i += 1;
    } else {
      return std::nullopt;
    }
    if (n > kMaxMillis / unit) return std::nullopt;
    total += n * unit;
    if (total > kMaxMillis) return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms != 0 && ms % 86400000 == 0) return std::to_string(ms / 86400000) + "d";
  if (ms != 0 && ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace dsl
