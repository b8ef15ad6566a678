// must(result): the value of a Result that a test expects to succeed; a failure is reported
// with the result's own message (and the test stops at the value access).
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <utility>

namespace testing_support {

template <typename R>
auto must(R&& r) {
  if (!r.ok()) {
    ADD_FAILURE() << r.error().message;
    throw std::runtime_error("must: " + r.error().message);
  }
  return std::forward<R>(r).value();
}

}  // namespace testing_support
