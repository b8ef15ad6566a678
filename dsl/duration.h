// Durations as saga authors write them: "500ms", "10s", "2m", "1h", "7d", or sums like "1m30s".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace dsl {

// nullopt when `text` is not a duration. Refuses values past ~10 years rather than overflow.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling: 1500ms -> "1500ms", 90000ms -> "90s", 3600000ms -> "1h".
std::string format_duration(std::chrono::milliseconds d);

inline constexpr std::string_view kDurationHint = "use a number with ms, s, m, h or d, e.g. 500ms, 10s, 2m, 1h, 7d";

}  // namespace dsl
