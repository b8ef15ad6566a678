#include "tests/support/manual_clock.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <utility>

namespace testing_support {

ManualClock::ManualClock(boost::asio::io_context& io, TimeMs start) : io_(&io), now_(start) {}

void ManualClock::wake_at(TimeMs at, std::function<void()> wake) {
  at_ = at;
  wake_ = std::move(wake);
  if (at_ <= now_) set(now_);
}

void ManualClock::cancel() { wake_ = nullptr; }

void ManualClock::set(TimeMs now) {
  now_ = std::max(now_, now);
  if (wake_ && at_ <= now_) boost::asio::post(*io_, std::exchange(wake_, nullptr));
}

}  // namespace testing_support
