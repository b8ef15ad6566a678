// The alphabet of saga ids, one rule wherever an id enters: the admin API, the CLI, the start
// topic and the embedded API (docs/protocol.md, "Saga ids"). An id travels in Kafka keys and
// headers, in message ids ("<id>/<step>/<action>/<attempt>"), in URL paths and in terminals,
// so it holds only the URL-unreserved characters: nothing there needs escaping.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sagas {

inline constexpr std::size_t kMaxSagaIdBytes = 128;
inline constexpr std::string_view kSagaIdRule = "1 to 128 of A-Z a-z 0-9 . _ ~ -";

// Why `id` is not a saga id (naming the rule), or nullopt when it is one.
std::optional<std::string> check_saga_id(std::string_view id);

}  // namespace sagas
