// Strong types for ids and indices, after redpanda's named_type: a StepIndex cannot be
// passed where an Attempt is expected, and neither silently converts to an int.
#pragma once

#include <compare>
#include <cstddef>
#include <functional>
#include <utility>

namespace sagas {

template <typename T, typename Tag>
class NamedType {
 public:
  using value_type = T;

  constexpr NamedType() = default;
  constexpr explicit NamedType(T value) : value_(std::move(value)) {}

  constexpr const T& value() const { return value_; }
  constexpr auto operator<=>(const NamedType&) const = default;

 private:
  T value_{};
};

using StepIndex = NamedType<std::size_t, struct StepIndexTag>;
using GroupIndex = NamedType<std::size_t, struct GroupIndexTag>;
using Attempt = NamedType<unsigned, struct AttemptTag>;

}  // namespace sagas

template <typename T, typename Tag>
struct std::hash<sagas::NamedType<T, Tag>> {
  std::size_t operator()(const sagas::NamedType<T, Tag>& v) const noexcept {
    return std::hash<T>{}(v.value());
  }
};
