// SharedJson: an immutable JSON value shared by every copy of what holds it. A saga's input
// and its steps' requests and replies are set once and then copied with the instance at
// every transition (the machine returns a new instance, the journal writer encodes it on its
// own thread): shared, such a copy costs a reference count, not a tree of allocations.
//
// It may hold nothing, and keeps std::optional<Json>'s interface for that (has_value, *, ->,
// reset, = std::nullopt). Values compare as Json does (numbers by value, objects as sets of
// members), after a shortcut for the same shared value. Thread-safe to copy and read from
// several threads: the value never changes after it is made; a new value replaces it whole.
#pragma once

#include <memory>
#include <optional>
#include <utility>

#include "sagas/json.h"

namespace sagas {

class SharedJson {
 public:
  SharedJson() = default;
  SharedJson(std::nullopt_t) {}                                                // NOLINT: as optional
  SharedJson(Json value) : value_(std::make_shared<const Json>(std::move(value))) {}  // NOLINT
  SharedJson(std::optional<Json> value) {                                      // NOLINT
    if (value) value_ = std::make_shared<const Json>(std::move(*value));
  }

  bool has_value() const { return value_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  // Require has_value().
  const Json& operator*() const { return *value_; }
  const Json* operator->() const { return value_.get(); }
  const Json& value() const { return *value_; }
  // The value, or null when there is none.
  const Json& value_or_null() const;

  void reset() { value_.reset(); }
  SharedJson& operator=(std::nullopt_t) {
    reset();
    return *this;
  }

  friend bool operator==(const SharedJson& a, const SharedJson& b) {
    if (a.value_ == b.value_) return true;
    return a.value_ != nullptr && b.value_ != nullptr && *a.value_ == *b.value_;
  }
  friend bool operator==(const SharedJson& a, const Json& b) { return a.value_ != nullptr && *a.value_ == b; }

 private:
  std::shared_ptr<const Json> value_;
};

inline const Json& SharedJson::value_or_null() const {
  static const Json null;
  return value_ != nullptr ? *value_ : null;
}

}  // namespace sagas
